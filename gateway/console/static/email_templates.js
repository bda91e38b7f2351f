// The email template editor: the preview follows the draft as it is typed,
// errors link to their line, and the tag drawer searches and inserts tags.
// The page works without this script (Preview and Save are plain form posts,
// the drawers are <details>). Text from Herald is set with textContent only.
"use strict";

(function () {
  const editor = document.getElementById("template-editor");
  if (!editor) {
    return;
  }
  for (const hidden of document.querySelectorAll(".js-hidden")) {
    hidden.hidden = true;
  }
  const previewButton = editor.querySelector("[data-preview-submit]");
  const subjectOut = document.getElementById("preview-subject");
  const textOut = document.getElementById("preview-text");
  const faultList = document.getElementById("faults");
  const status = document.getElementById("preview-status");
  const fields = Array.from(editor.querySelectorAll("[data-part]"));
  let lastField = fields.find((field) => field.dataset.part === "html") || fields[0];
  let timer = null;
  let asked = 0;

  // Select line `line` (from 1) of a part, as an editor jumps to an error.
  function goToLine(part, line) {
    const field = fields.find((candidate) => candidate.dataset.part === part);
    if (!field) {
      return;
    }
    const lines = field.value.split("\n");
    const wanted = Math.min(Math.max(line || 1, 1), lines.length);
    let start = 0;
    for (let i = 0; i < wanted - 1; i += 1) {
      start += lines[i].length + 1;
    }
    field.focus();
    field.setSelectionRange(start, start + lines[wanted - 1].length);
  }

  function jumpLink(fault) {
    const link = document.createElement("a");
    link.href = `#${fault.part || "html"}`;
    link.dataset.part = fault.part;
    link.dataset.line = fault.line || "";
    link.textContent = fault.line ? `${fault.part}, line ${fault.line}` : fault.part || "template";
    return link;
  }

  function showFaults(faults) {
    faultList.replaceChildren();
    faultList.hidden = faults.length === 0;
    for (const fault of faults) {
      const item = document.createElement("li");
      item.append(jumpLink(fault), document.createTextNode(` ${fault.detail}`));
      faultList.append(item);
    }
    for (const field of fields) {
      const wrong = faults.some((fault) => fault.part === field.dataset.part);
      field.setAttribute("aria-invalid", wrong ? "true" : "false");
    }
  }

  faultList.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-part]");
    if (link) {
      event.preventDefault();
      goToLine(link.dataset.part, Number(link.dataset.line));
    }
  });

  async function refresh() {
    const mine = ++asked;
    status.textContent = "Rendering the draft…";
    try {
      const response = await fetch(editor.dataset.checkUrl, {
        method: "POST",
        body: new FormData(editor),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const answer = await response.json();
      if (mine !== asked) {
        return; // a newer draft is on its way
      }
      showFaults(answer.faults);
      if (answer.faults.length) {
        status.textContent = "The draft has errors; the preview shows it as it last rendered.";
        return;
      }
      subjectOut.textContent = answer.subject;
      textOut.textContent = answer.text;
      status.textContent = "The unsaved draft, as it will be sent.";
      // The HTML goes to the sandboxed frame as a document of its own, under
      // its own Content-Security-Policy: the same form, posted to the frame.
      editor.requestSubmit(previewButton);
    } catch (error) {
      if (mine === asked) {
        status.textContent = "The preview could not be updated.";
      }
    }
  }

  for (const field of fields) {
    field.addEventListener("focus", () => {
      lastField = field;
    });
    field.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
  }

  const drawer = document.getElementById("tags");
  if (!drawer) {
    return;
  }
  const search = drawer.querySelector("input[type=search]");
  const rows = Array.from(drawer.querySelectorAll("[data-tag]"));
  const none = drawer.querySelector("[data-no-match]");
  const copied = drawer.querySelector("[data-copied]");
  function filter() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const match = words.every((word) => row.dataset.search.includes(word));
      row.hidden = !match;
      shown += match ? 1 : 0;
    }
    none.hidden = shown !== 0;
  }
  search.addEventListener("input", filter);
  // Without this script the search reloads the page; with it, typing filters.
  search.form.addEventListener("submit", (event) => {
    event.preventDefault();
    filter();
  });
  drawer.addEventListener("toggle", () => {
    if (drawer.open) {
      search.focus();
    }
  });
  for (const row of rows) {
    row.querySelector("button").addEventListener("click", async () => {
      const tag = `{{ ${row.dataset.tag} }}`;
      const field = lastField;
      field.setRangeText(tag, field.selectionStart, field.selectionEnd, "end");
      field.dispatchEvent(new Event("input", { bubbles: true }));
      let said = `Inserted ${tag} into the ${field.dataset.part}`;
      try {
        await navigator.clipboard.writeText(tag);
        said += " and copied it";
      } catch (error) {
        // Copying needs the page's permission; inserting it is enough.
      }
      copied.textContent = `${said}.`;
    });
  }
})();
