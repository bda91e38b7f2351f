// The customers import: without this script the form posts and the answer
// page holds the report. With it, the file is sent in the background with a
// progress bar of the upload, and the report of the answer is shown in place.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.id !== "import-form") {
    return;
  }
  const input = form.querySelector("input[type=file]");
  if (!input || !input.files || input.files.length === 0) {
    return; // the server says at the field that a file is needed
  }
  event.preventDefault();
  const bar = form.querySelector("#import-progress");
  const state = form.querySelector("#import-state");
  const button = form.querySelector("button[type=submit]");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.upload.onprogress = (progress) => {
    if (progress.lengthComputable) {
      bar.max = progress.total;
      bar.value = progress.loaded;
      state.textContent = `Sending… ${Math.round((100 * progress.loaded) / progress.total)} %`;
    }
  };
  request.upload.onload = () => {
    state.textContent = "Sent; Herald is checking every line…";
    bar.removeAttribute("value"); // indeterminate while the server checks
  };
  request.onload = () => {
    const page = new DOMParser().parseFromString(request.responseText, "text/html");
    const answer = page.querySelector("#import");
    const section = document.querySelector("#import");
    if (answer && section) {
      section.replaceWith(answer);
    } else {
      state.textContent = `Herald answered HTTP ${request.status}.`;
      button.disabled = false;
      bar.hidden = true;
    }
  };
  request.onerror = () => {
    state.textContent = "The console could not reach Herald.";
    button.disabled = false;
    bar.hidden = true;
  };
  bar.hidden = false;
  bar.value = 0;
  button.disabled = true;
  state.textContent = "Sending…";
  request.send(new FormData(form));
});
