'use strict';
// plotly.js with only the trace types mfa's report draws
var Plotly = require('plotly.js/lib/core');
Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/sankey'),
    require('plotly.js/lib/choropleth'),
]);
module.exports = Plotly;
