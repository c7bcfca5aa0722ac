// lunge dashboard: the only script (served from /dashboard/static, no inline script: the CSP forbids it).
// It polls the live counters of the runs on the page while they are not finished, and copies the
// curl line of a finding. It reads JSON with textContent only: nothing it receives becomes markup.
"use strict";

const POLL_MS = 1500;

function setField(root, name, value) {
  for (const el of root.querySelectorAll('[data-field="' + name + '"]')) {
    if (el.tagName === "PROGRESS") {
      el.value = value;
    } else if (name === "state") {
      el.textContent = String(value).replace(/_/g, " ");
      el.className = "badge state-" + value;
    } else {
      el.textContent = String(value);
    }
  }
}

function apply(root, run) {
  for (const name of ["state", "baselines_total", "baselines_tested", "baselines_not_tested", "baselines_done",
                      "progress", "requests_sent"]) {
    setField(root, name, run[name]);
  }
  for (const el of root.querySelectorAll("[data-severity]")) {
    const count = run.findings_by_severity[el.dataset.severity] || 0;
    el.textContent = String(count);
    el.parentElement.classList.toggle("zero", count === 0);
  }
  if (run.finished) {
    delete root.dataset.running;
  }
}

async function fetchJson(url) {
  const answer = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
  if (answer.status === 401) {
    window.location.assign("/dashboard/signin");
    return null;
  }
  return answer.ok ? answer.json() : null;
}

async function pollRun(box) {
  const run = await fetchJson(box.dataset.live);
  if (run === null) {
    return;
  }
  const state = document.getElementById("run-state");
  if (state) {
    setField(state.parentElement, "state", run.state);
  }
  apply(box, run);
  // new findings (counted from the stored findings: an engine may set the run's counter only at the
  // end) or the end of the run: the findings and baselines tables change, so load them again
  const findings = Object.values(run.findings_by_severity).reduce((sum, n) => sum + n, 0);
  if (run.finished || String(findings) !== box.dataset.findings) {
    window.location.reload();
  }
}

async function pollRuns(table) {
  const rows = [...table.querySelectorAll("tr[data-running]")];
  if (rows.length === 0) {
    return;
  }
  const ids = rows.map((row) => row.dataset.run).join(",");
  const answer = await fetchJson(table.dataset.live + "?ids=" + encodeURIComponent(ids));
  if (answer === null) {
    return;
  }
  for (const run of answer.objects) {
    const row = table.querySelector('tr[data-run="' + run.id + '"]');
    if (row) {
      apply(row, run);
    }
  }
}

function poll(element, once) {
  const tick = async () => {
    if (element.dataset.running === undefined && element.querySelector("[data-running]") === null) {
      return;  // nothing left that changes
    }
    try {
      await once(element);
    } catch (error) {
      // a failed poll (server restarting, network): keep the page as it is and try again later
    }
    window.setTimeout(tick, POLL_MS);
  };
  window.setTimeout(tick, POLL_MS);
}

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        button.textContent = "Selected: Ctrl+C";
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run");
  if (run && run.dataset.live) {
    poll(run, pollRun);
  }
  const runs = document.getElementById("runs");
  if (runs && runs.dataset.live) {
    poll(runs, pollRuns);
  }
  copyButtons();
});
