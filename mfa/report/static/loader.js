// Draws every figure from its JSON script block and counts what was drawn (read by the tests).
(function () {
  var done = 0, failed = 0;
  document.querySelectorAll('script.plotly-data').forEach(function (s) {
    try {
      var fig = JSON.parse(s.textContent);
      Plotly.newPlot(document.getElementById(s.dataset.target), fig.data, fig.layout,
                     {responsive: true, displaylogo: false, showLink: false});
      done += 1;
    } catch (err) { failed += 1; console.error('figure ' + s.dataset.target + ': ' + err); }
  });
  document.body.setAttribute('data-figures-drawn', String(done));
  document.body.setAttribute('data-figures-failed', String(failed));
})();
