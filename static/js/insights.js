// The insight dashboards: draws each panel's chart with Chart.js from the JSON block the page
// carries (no inline script: the Content-Security-Policy allows scripts from our origin only).
(function () {
  'use strict';
  if (typeof window.Chart === 'undefined') { return; }
  var palette = ['#0b4f6c', '#20a39e', '#f2a541', '#c1292e', '#6f42c1', '#5a6270', '#198754', '#fd7e14', '#0dcaf0'];

  function draw(canvas) {
    var block = document.getElementById(canvas.getAttribute('data-insight-chart'));
    if (!block) { return; }
    var spec = JSON.parse(block.textContent);
    var stacked = spec.type === 'stacked-bar';
    var line = spec.type === 'line';
    var datasets = spec.datasets.map(function (set, i) {
      var colour = palette[i % palette.length];
      return {
        label: set.label,
        data: set.data,
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: line ? 2 : 0,
        tension: 0.2,
        spanGaps: true,
        fill: false
      };
    });
    new window.Chart(canvas, {
      type: line ? 'line' : 'bar',
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked: stacked, ticks: { autoSkip: true, maxRotation: 60 } },
          y: { stacked: stacked, beginAtZero: true }
        }
      }
    });
  }

  document.querySelectorAll('canvas[data-insight-chart]').forEach(draw);
}());
