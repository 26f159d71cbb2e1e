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
    var chart = new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: spec.datasets.length > 1 } },
        scales: spec.type === "doughnut" || spec.type === "pie" ? {} : { y: { beginAtZero: true } },
      },
    });
    canvas.dataset.rendered = "true";
    canvas.phoenixChart = chart;
  });
});
