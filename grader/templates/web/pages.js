// The web pages' one script: optional comforts on top of pages that work without it.
"use strict";

// Times in the reader's own time zone, and due dates as "in 2 days" / "3 hours late".
function relative(due) {
  const seconds = (due.getTime() - Date.now()) / 1000;
  let amount = Math.abs(seconds), text = "less than a minute";
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (amount >= size) { const n = Math.floor(amount / size); text = n + " " + unit + (n === 1 ? "" : "s"); break; }
  }
  return seconds >= 0 ? "in " + text : text + " late";
}

function localTimes() {
  for (const time of document.querySelectorAll("time[datetime]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!isNaN(moment)) time.textContent = moment.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
  }
  for (const span of document.querySelectorAll("[data-due]")) {
    const due = new Date(span.dataset.due);
    if (!isNaN(due)) span.textContent = "(" + relative(due) + ")";
  }
}

// A pending submission's page asks the server (a long poll) until it is graded, then shows the report.
async function watch(status) {
  const url = status.dataset.watch + "?wait=25";
  for (;;) {
    try {
      const answer = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (answer.status === 404 || answer.redirected) { location.reload(); return; }
      if (answer.ok) {
        const found = await answer.json();
        if (found.status !== "pending") { status.textContent = "Graded: loading the report…"; location.reload(); return; }
        continue;
      }
    } catch (error) { /* the server is away for a moment: ask again */ }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// Tables whose header buttons sort their rows (by each cell's data-value).
function sortable(table) {
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((header, column) => {
    const button = header.querySelector("button.sort");
    if (!button) return;
    button.addEventListener("click", () => {
      const ascending = header.getAttribute("aria-sort") !== "ascending";
      const numeric = button.dataset.kind === "number";
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      rows.sort((a, b) => {
        const x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      for (const row of rows) body.appendChild(row);
      for (const other of headers) other.removeAttribute("aria-sort");
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });
}

// A file dropped on the upload area goes into its file field.
function dropZone(zone) {
  const input = document.getElementById(zone.dataset.dropFor);
  if (!input) return;
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) input.files = event.dataTransfer.files;
  });
}

// A file past the assignment's limit is refused here, in a sentence, before it is sent (the
// server refuses it too, but a browser may show a broken connection instead of its answer).
function sizeLimit(form) {
  const input = form.querySelector("input[type=file][data-max-kb]");
  const problem = form.querySelector("#file-problem");
  if (!input || !problem) return;
  form.addEventListener("submit", (event) => {
    const limit = Number(input.dataset.maxKb) * 1024;
    const file = input.files[0];
    if (file && file.size > limit) {
      event.preventDefault();
      problem.textContent = file.name + " is " + Math.ceil(file.size / 1024) + " KiB; this assignment takes files of at most " + input.dataset.maxKb + " KiB.";
      problem.hidden = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.upload").forEach(sizeLimit);
  localTimes();
  document.querySelectorAll("table.sortable").forEach(sortable);
  document.querySelectorAll(".drop[data-drop-for]").forEach(dropZone);
  const status = document.querySelector("[data-watch]");
  if (status) watch(status);
});
