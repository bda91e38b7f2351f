// The Brand page: every change is previewed in a sample email, in the
// sandboxed frame, before it is saved. Without this script the Preview
// button does the same on a click.
"use strict";

(function () {
  const form = document.getElementById("brand-form");
  if (!form) {
    return;
  }
  const previewButton = form.querySelector("[data-preview-submit]");
  let timer = null;
  const refresh = () => form.requestSubmit(previewButton);
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  form.addEventListener("change", (event) => {
    if (event.target.type === "file" || event.target.type === "checkbox") {
      clearTimeout(timer);
      refresh();
    }
  });
  // Fields outside the form's markup (form="brand-form"), such as the choice
  // of sample email, do not send their events through the form.
  for (const outside of document.querySelectorAll(`[form="${form.id}"]`)) {
    outside.addEventListener("change", refresh);
  }
  // Colour pickers and their text fields show the same value.
  for (const picker of form.querySelectorAll("input[type=color][data-for]")) {
    const text = document.getElementById(picker.dataset.for);
    picker.addEventListener("input", () => {
      text.value = picker.value;
    });
    text.addEventListener("input", () => {
      if (/^#[0-9a-fA-F]{6}$/.test(text.value)) {
        picker.value = text.value;
      }
    });
  }
})();
