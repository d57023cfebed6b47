/* Sincro console, Saúde: show the page's times in the viewer's own zone, and refresh the live
   part (services, queues with their chart, figures) every few seconds from a fragment the
   server renders. A response that is not that fragment (signed out, no access) stops it. */
(function () {
  "use strict";
  var box = document.getElementById("health-live");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-live");
  var interval = parseInt(box.getAttribute("data-interval"), 10) || 10000;
  var note = document.getElementById("health-refresh");
  var clock = new Intl.DateTimeFormat("pt-BR", {
    day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit"
  });

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      var value = element.getAttribute("datetime");
      var moment = value ? new Date(value) : null;
      if (moment && !isNaN(moment.getTime())) {
        element.textContent = clock.format(moment).replace(",", "");
      }
    });
  }

  var hours = new Intl.DateTimeFormat("pt-BR", { hour: "2-digit", minute: "2-digit" });

  function localLabels() {
    var charts = window.SincroCharts;
    (charts ? charts.charts : []).forEach(function (chart) {
      var source = document.getElementById(chart.canvas.getAttribute("data-chart"));
      var spec = source ? JSON.parse(source.textContent) : {};
      if (spec.times) {
        chart.data.labels = spec.times.map(function (value) { return hours.format(new Date(value)); });
        chart.update("none");
      }
    });
  }

  function redrawCharts() {
    var charts = window.SincroCharts;
    if (!charts) {
      return;
    }
    charts.charts = charts.charts.filter(function (chart) {
      if (document.body.contains(chart.canvas)) {
        return true;
      }
      chart.destroy();
      return false;
    });
    box.querySelectorAll("canvas[data-chart]:not([data-drawn])").forEach(function (canvas) {
      var chart = charts.draw(canvas);
      if (chart) {
        canvas.setAttribute("data-drawn", "true");
        charts.charts.push(chart);
      }
    });
  }

  function say(text) {
    if (note) {
      note.textContent = text;
    }
  }

  function refresh() {
    if (document.hidden) {
      window.setTimeout(refresh, interval);
      return;
    }
    fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (!response.ok || response.headers.get("X-Sincro-Fragment") !== "health") {
          throw new Error("stop");
        }
        return response.text();
      })
      .then(function (html) {
        box.innerHTML = html;
        localTimes(box);
        redrawCharts();
        localLabels();
        say("Atualizado às " + clock.format(new Date()).split(" ").pop() + ".");
        window.setTimeout(refresh, interval);
      })
      .catch(function (error) {
        if (error && error.message === "stop") {
          say("Atualização automática interrompida (sessão expirada?) — recarregue a página.");
          return;
        }
        say("Sem resposta do servidor; tentando de novo…");
        window.setTimeout(refresh, interval);
      });
  }

  localTimes(box);
  localLabels();
  if (url && window.fetch) {
    window.setTimeout(refresh, interval);
  }
})();
