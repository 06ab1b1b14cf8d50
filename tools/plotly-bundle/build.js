// Builds plotly.js with only the trace types the report draws (scatter, bar, sankey,
// choropleth) into mfa/report/static/plotly-mfa.min.js. Run with node from this folder
// after `npm install`; see README.md.
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

// What plotly.js's own tasks/compress_attributes.js strips: attribute descriptions and
// other schema text that only the schema documentation reads.
const STRIP = [
    /\s*description: '.*',?/g,
    /\s*description: \[[\s\S]*?\]\.join\([^)]*\),?/g,
    /\s*requiredOpts: \[[\s\S]*?\],?/g,
    /\s*otherOpts: \[[\s\S]*?\],?/g,
    /\s*role: '.*',?/g,
    /\s*hrName: '.*',?/g,
];
const compressAttributes = {
    name: 'compress-attributes',
    setup(build) {
        build.onLoad({ filter: /plotly\.js[\\/]src[\\/].*\.js$/ }, async (args) => {
            let text = await fs.promises.readFile(args.path, 'utf8');
            for (const re of STRIP) text = text.replace(re, '');
            return { contents: text, loader: 'js' };
        });
    },
};

const version = require('plotly.js/package.json').version;
const out = process.argv[2] || path.join(__dirname, "..", "..", "mfa", "report", "static", "plotly-mfa.min.js");
esbuild.build({
    entryPoints: [path.join(__dirname, 'entry.js')],
    bundle: true, minify: true, format: 'iife', globalName: 'Plotly', target: 'es2016',
    define: { global: 'window', 'define.amd': 'false' },
    plugins: [compressAttributes],
    // src/registry.js imports MapLibre's stylesheet, which only map traces use
    loader: { '.css': 'empty' },
    banner: { js: `/** plotly.js v${version} (MIT, github.com/plotly/plotly.js), partial bundle for mfa: scatter, bar, sankey, choropleth */` },
    outfile: out, logLevel: 'warning',
}).then(() => console.log(out, fs.statSync(out).size));
