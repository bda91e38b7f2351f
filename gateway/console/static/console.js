// Herald's console script. Every page works without it; it adds drawers that
// close with Cancel, forms that answer in place, and checks as you type.
"use strict";

// A <details class="drawer"> closes from any button marked data-close.
document.addEventListener("click", (event) => {
  const closer = event.target.closest("[data-close]");
  if (closer) {
    const drawer = closer.closest("details");
    if (drawer) {
      event.preventDefault();
      drawer.open = false;
    }
  }
});

// A form marked data-inline is sent in the background; the part of the answer
// marked data-result replaces the same part of this page.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-inline")) {
    return;
  }
  event.preventDefault();
  const target = form.querySelector("[data-result]");
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  if (target) target.textContent = "Sending…";
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Herald-Inline": "1" },
    });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const answer = page.querySelector(`[data-result="${target ? target.dataset.result : ""}"]`);
    if (target) target.replaceWith(answer || document.createTextNode(`HTTP ${response.status}`));
  } catch (error) {
    if (target) target.textContent = `The console could not reach Herald: ${error}`;
  } finally {
    if (button) button.disabled = false;
  }
});

// An input marked data-check="/path" is checked by Herald as it is typed,
// with the same rules the form is saved with; the answer shows at the field.
const timers = new WeakMap();
document.addEventListener("input", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.dataset.check) {
    return;
  }
  clearTimeout(timers.get(input));
  timers.set(input, setTimeout(async () => {
    const url = `${input.dataset.check}?value=${encodeURIComponent(input.value)}`;
    const response = await fetch(url, { credentials: "same-origin" });
    const answer = await response.json();
    let note = input.parentElement.querySelector(".field-error.live");
    if (!note) {
      note = document.createElement("p");
      note.className = "field-error live";
      input.after(note);
    }
    note.textContent = answer.error || "";
    input.setAttribute("aria-invalid", answer.error ? "true" : "false");
    input.setCustomValidity(answer.error || "");
  }, 250));
});
