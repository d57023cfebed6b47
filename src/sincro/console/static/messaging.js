/* Sincro console, messaging: the template editor's live preview (the form's content is sent
   to the console's preview endpoint as JSON a moment after each change; the HTML is shown in
   a sandboxed iframe, never in the page) and a campaign's live progress (counts, throughput
   and the per-minute chart refreshed every few seconds). */
(function () {
  "use strict";
  var numbers = new Intl.NumberFormat("pt-BR");

  function previewEditor(form) {
    var timer = null;
    var subject = document.getElementById("preview-subject");
    var frame = document.getElementById("preview-html");
    var text = document.getElementById("preview-text");
    var error = document.getElementById("preview-error");
    var state = document.getElementById("preview-state");

    function field(name) {
      var element = form.elements[name];
      return element ? element.value : "";
    }

    function show(result) {
      if (result.ok) {
        error.hidden = true;
        subject.textContent = result.subject;
        frame.srcdoc = result.html;
        text.textContent = result.text;
      } else {
        error.hidden = false;
        error.textContent = result.error || "Não foi possível montar a prévia";
      }
      state.setAttribute("data-state", result.ok ? "ok" : "error");
      state.textContent = result.ok ? "atualizada" : "com erro";
    }

    function refresh() {
      var variables = field("variables").split(",").map(function (v) { return v.trim(); })
        .filter(function (v) { return v.length > 0; });
      var body = {
        subject: field("subject"), html: field("html"), text: field("text"),
        purpose: field("purpose") || "marketing", variables: variables
      };
      state.setAttribute("data-state", "loading");
      state.textContent = "atualizando…";
      fetch(form.getAttribute("data-preview-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": form.getAttribute("data-csrf") },
        body: JSON.stringify(body)
      }).then(function (response) { return response.json(); })
        .then(show)
        .catch(function () { show({ ok: false, error: "Sem conexão com o servidor" }); });
    }

    form.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 300);
    });
    refresh();
  }

  function followCampaign(counts) {
    var interval = parseInt(counts.getAttribute("data-interval"), 10) || 2000;
    function update(data) {
      var c = data.campaign.counts;
      counts.querySelectorAll("[data-count]").forEach(function (element) {
        var key = element.getAttribute("data-count");
        element.textContent = numbers.format(c[key] || 0);
      });
      document.getElementById("throughput").textContent = numbers.format(data.campaign.throughput_per_minute);
      document.getElementById("throughput-hour").textContent = numbers.format(Math.round(data.throughput_hour));
      var state = document.getElementById("campaign-state");
      state.textContent = data.state_label[0];
      state.className = "pill " + data.state_label[1];
      var charts = window.SincroCharts ? window.SincroCharts.charts : [];
      if (charts.length) {
        charts[0].data.labels = data.chart.labels;
        data.chart.series.forEach(function (series, i) {
          if (charts[0].data.datasets[i]) { charts[0].data.datasets[i].data = series.data; }
        });
        charts[0].update();
      }
    }
    function poll() {
      fetch(counts.getAttribute("data-url"), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data) { update(data); } })
        .catch(function () { return null; })
        .then(function () { window.setTimeout(poll, interval); });
    }
    window.setTimeout(poll, interval);
  }

  var form = document.getElementById("template-form");
  if (form) { previewEditor(form); }
  var counts = document.getElementById("campaign-counts");
  if (counts) { followCampaign(counts); }
})();
