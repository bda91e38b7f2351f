// The queue page: a box in the table's head ticks or clears every row's box.
// Without this script the box stays hidden and each row is ticked by hand.
"use strict";

const all = document.querySelector("[data-pick-all]");
if (all) {
  const boxes = () => document.querySelectorAll("input[name=message]");
  all.hidden = false;
  all.addEventListener("change", () => {
    for (const box of boxes()) box.checked = all.checked;
  });
  document.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.name === "message") {
      all.checked = [...boxes()].every((box) => box.checked);
    }
  });
}
