/* Sincro console charts: draws every <canvas data-chart="ID"> from the JSON in
   <script type="application/json" id="ID"> with Chart.js (served from the package, never a
   CDN). Spec: {"type": "bar"|"line", "labels": [...], "series": [{"label", "data"}],
   "stacked": false, "y_label": "..."}; a series may say "fill": "-1" (a band to the series
   before it), "points": true (markers only), "dashed": true, "color": "#hex". */
/* Numbers read the pt-BR way (1.234,5). */
(function () {
  "use strict";
  if (!window.Chart) {
    return;
  }
  var PALETTE = ["#0f766e", "#2563eb", "#d97706", "#7c3aed", "#dc2626", "#059669", "#64748b"];
  var numbers = new Intl.NumberFormat("pt-BR");

  function dataset(series, index, type) {
    var color = series.color || PALETTE[index % PALETTE.length];
    return {
      label: series.label,
      data: series.data,
      borderColor: color,
      backgroundColor: type === "line" ? color + "33" : color,
      fill: typeof series.fill === "string" ? series.fill : Boolean(series.fill),
      tension: 0.2,
      showLine: !series.points,
      pointRadius: series.points ? 4 : (type === "line" ? 0 : undefined),
      spanGaps: false,
      borderDash: series.dashed ? [6, 4] : undefined
    };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) {
      return null;
    }
    var spec = JSON.parse(source.textContent);
    var type = spec.type || "line";
    var series = spec.series || [];
    return new window.Chart(canvas, {
      type: type,
      data: {
        labels: spec.labels,
        datasets: series.map(function (s, i) { return dataset(s, i, type); })
      },
      options: {
        locale: "pt-BR",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: series.length > 1, position: "bottom" } },
        scales: {
          x: { stacked: Boolean(spec.stacked) },
          y: {
            stacked: Boolean(spec.stacked),
            beginAtZero: true,
            title: { display: Boolean(spec.y_label), text: spec.y_label || "" },
            ticks: { callback: function (value) { return numbers.format(value); } }
          }
        }
      }
    });
  }

  var charts = [];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var chart = draw(canvas);
    if (chart) {
      canvas.setAttribute("data-drawn", "true");
      charts.push(chart);
    }
  });
  window.SincroCharts = { draw: draw, charts: charts };
})();
