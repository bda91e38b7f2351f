// A run's page keeps its progress live: while the run is not finished, its
// status and totals are asked for every two seconds and shown in place; once
// it finishes, the page is loaded again to show each recipient's outcome.
// Without this script the page shows the run as it was when loaded.
"use strict";

(() => {
  const progress = document.getElementById("run-progress");
  if (!progress) return;
  const UNFINISHED = new Set(["queued", "running", "deferred"]);
  const show = (answer) => {
    progress.dataset.status = answer.status;
    const badge = progress.querySelector("[data-field=status]");
    if (badge) {
      badge.textContent = answer.status;
      badge.className = `badge ${answer.status}`;
    }
    for (const [name, n] of Object.entries(answer.totals)) {
      const total = progress.querySelector(`[data-total="${name}"]`);
      if (total) total.textContent = String(n);
    }
  };
  const poll = async () => {
    try {
      const response = await fetch(progress.dataset.url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const answer = await response.json();
      show(answer);
      if (answer.finished) {
        window.location.reload();
        return;
      }
    } catch (error) {
      // Herald is out of reach for now: keep the last state and ask again.
    }
    window.setTimeout(poll, 2000);
  };
  if (UNFINISHED.has(progress.dataset.status)) window.setTimeout(poll, 2000);
})();
