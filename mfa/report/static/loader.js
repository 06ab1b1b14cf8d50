// Unpacks plotly.js (gzipped and base64-encoded into the page, which keeps the page light),
// then draws every figure from its JSON script block and counts what was drawn (the tests
// read the counts).

// plotly's geo subplot (the map) fetches a world topojson from the network unless one is
// already there; the map's base layers are off, so an empty one is all it needs offline.
window.PlotlyGeoAssets = window.PlotlyGeoAssets || {topojson: {}};
['world_110m', 'world_50m'].forEach(function (name) {
  window.PlotlyGeoAssets.topojson[name] = window.PlotlyGeoAssets.topojson[name] || {type: 'Topology', objects: {}, arcs: []};
});

(function () {
  function draw() {
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
  }

  var packed = document.getElementById('plotly-js');
  if (typeof DecompressionStream === 'undefined') {
    console.error('This browser cannot unpack the interactive charts (it needs Chrome/Edge 80, Firefox 113 or ' +
                  'Safari 16.4 or newer); the static PNG under each chart shows the same figure.');
    return;
  }
  var binary = atob(packed.textContent.trim());
  var bytes = new Uint8Array(binary.length);
  for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
  new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).text().then(function (code) {
    var script = document.createElement('script');
    script.textContent = code;
    document.head.appendChild(script);  // runs at once and defines window.Plotly
    script.remove();  // its 1.4 MB of text is not needed once it has run
    draw();
  }).catch(function (err) { console.error('plotly.js could not be unpacked: ' + err); });
})();
