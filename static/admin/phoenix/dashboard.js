// Draws every <canvas data-phoenix-chart="<json script id>"> of the dashboard with Chart.js.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof Chart === "undefined") {
    return;
  }
  document.querySelectorAll("canvas[data-phoenix-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.phoenixChart);
    if (!source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var round = spec.type === "doughnut" || spec.type === "pie";
    var chart = new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        // A round chart's legend names its slices; a bar chart needs one only for several series.
        plugins: { legend: { display: round || spec.datasets.length > 1, position: round ? "right" : "top" } },
        scales: round ? {} : { y: { beginAtZero: true } },
      },
    });
    canvas.dataset.rendered = "true";
    canvas.phoenixChart = chart;
  });
});
