// Draws every <canvas data-phoenix-chart="<json script id>"> of the dashboard with Chart.js:
// the value axis titled with the unit, the category axis with its title, tooltips with the unit.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof Chart === "undefined") {
    return;
  }
  var numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  document.querySelectorAll("canvas[data-phoenix-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.phoenixChart);
    if (!source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var round = spec.type === "doughnut" || spec.type === "pie";
    var withUnit = function (value) { return numbers.format(value) + " " + spec.unit; };
    var scales = round ? {} : {
      x: { stacked: spec.datasets.some(function (d) { return d.stack; }),
           title: { display: Boolean(spec.x_title), text: spec.x_title } },
      y: { beginAtZero: true, stacked: spec.datasets.some(function (d) { return d.stack; }),
           title: { display: true, text: spec.unit } },
    };
    var chart = new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          // A round chart's legend names its slices; a bar chart needs one only for several series.
          legend: { display: round || spec.datasets.length > 1, position: round ? "right" : "top" },
          tooltip: { callbacks: { label: function (item) {
            var name = round ? item.label : item.dataset.label;
            return name + ": " + withUnit(item.parsed && typeof item.parsed === "object" ? item.parsed.y : item.parsed);
          } } },
        },
        scales: scales,
      },
    });
    canvas.dataset.rendered = "true";
    canvas.phoenixChart = chart;
  });
});
