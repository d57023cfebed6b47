/* Sincro console, Sincronização: refresh the progress of running sync runs every 2 s. */
(function () {
  "use strict";
  var table = document.getElementById("runs-table");
  if (!table || !window.fetch) {
    return;
  }
  var pollUrl = table.getAttribute("data-poll");
  var interval = parseInt(table.getAttribute("data-interval"), 10) || 2000;
  var numbers = new Intl.NumberFormat("pt-BR", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  function runningIds() {
    var ids = [];
    table.querySelectorAll("tr[data-running]").forEach(function (row) {
      ids.push(row.getAttribute("data-run-id"));
    });
    return ids;
  }

  function setText(row, field, text) {
    var cell = row.querySelector("[data-field=" + field + "]");
    if (cell) {
      cell.textContent = text;
    }
  }

  function update(run) {
    var row = table.querySelector("tr[data-run-id='" + run.id + "']");
    if (!row) {
      return;
    }
    var bar = row.querySelector("progress");
    if (bar && run.running) {
      if (run.total) {
        bar.max = run.total;
        bar.value = run.done;
      }
    } else if (bar) {
      bar.remove();
    }
    var progress = run.text + (run.percent === null ? "" : " (" + numbers.format(run.percent) + "%)");
    setText(row, "progress", progress);
    setText(row, "applied", run.applied);
    setText(row, "rejected", run.rejected);
    setText(row, "finished", run.finished_at);
    var status = row.querySelector("[data-field=status]");
    if (status) {
      var pill = document.createElement("span");
      pill.className = "pill " + run.tone;
      pill.textContent = run.status_label;
      status.replaceChildren(pill);
    }
    if (!run.running) {
      row.removeAttribute("data-running");
      row.classList.add("fresh");
    }
  }

  function poll() {
    var ids = runningIds();
    if (!ids.length) {
      return;
    }
    fetch(pollUrl + "?ids=" + encodeURIComponent(ids.join(",")), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.ok ? response.json() : { runs: [] };
      })
      .then(function (body) {
        (body.runs || []).forEach(update);
      })
      .catch(function () {})
      .then(function () {
        if (runningIds().length) {
          window.setTimeout(poll, interval);
        }
      });
  }

  if (runningIds().length) {
    window.setTimeout(poll, interval);
  }
})();
