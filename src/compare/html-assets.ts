// The report page's own style sheet and script, inlined into every report (html.ts).

export const PAGE_CSS = `
:root { color-scheme: light; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg-soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 8px; }
h2 { font-size: 1.2rem; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 0.95rem; margin: 16px 0 8px; font-weight: 600; }
code { font: 0.85em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--muted); font-weight: normal; }
.note { color: var(--muted); font-style: italic; margin: 8px 0; }
.swatch { display: inline-block; margin-right: 6px; vertical-align: middle; }
ul.experiments { list-style: none; padding: 0; margin: 0; }
ul.experiments li { margin: 4px 0; }
ul.experiments code { margin: 0 8px; color: var(--muted); word-break: break-all; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 6px; padding: 0; margin: 0 0 12px; }
ul.legend button { font: inherit; font-size: 0.9em; border: 1px solid var(--line); border-radius: 14px;
  background: #fff; padding: 2px 10px 2px 6px; cursor: pointer; color: var(--fg); }
ul.legend button:hover, ul.legend button.focused { border-color: var(--fg); background: var(--bg-soft); }
ul.legend button[aria-pressed="false"] { opacity: 0.4; text-decoration: line-through; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
figure { margin: 0; }
.chart-box, .bars-box { border: 1px solid var(--line); border-radius: 6px; padding: 12px; min-width: 0; }
.chart-box figcaption, .bars-box figcaption { font-weight: 600; margin-bottom: 8px; }
.bars-box + .bars-box { margin-top: 16px; }
.chart { width: 100%; }
.readout { font-size: 0.85em; min-height: 1.5em; font-variant-numeric: tabular-nums; }
svg.bars { width: 100%; height: auto; display: block; font-size: 13px; }
svg.bars .grid { stroke: var(--line); stroke-width: 1; }
svg.bars .axis { stroke: var(--muted); stroke-width: 1; }
svg.bars text { fill: var(--fg); }
svg.bars .tick, svg.bars .detail { fill: var(--muted); font-size: 12px; }
svg.bars rect:hover { opacity: 0.75; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); white-space: nowrap; }
tr.best th, tr.best td { background: #fff6db; }
tr.best strong { color: #8a5a00; font-size: 12px; margin-left: 6px; }
thead th { text-align: right; background: var(--bg-soft); }
tbody th { text-align: left; font-weight: normal; }
td { text-align: right; }
tbody tr:hover { background: var(--bg-soft); }
.audio-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
.audio { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--bg-soft); }
.audio.reference { border-color: var(--fg); }
.audio figcaption { margin-bottom: 6px; }
.audio figcaption .muted { display: block; font-size: 0.85em; }
.audio audio { width: 100%; }
.spectrogram img { display: block; width: 100%; height: 128px; margin-top: 6px; border-radius: 3px; }
.spectrogram .axis { display: flex; justify-content: space-between; font-size: 0.75em; }
.color-scale { display: flex; align-items: center; gap: 8px; font-size: 0.85em; margin-bottom: 8px; }
.color-scale .gradient { display: inline-block; width: 200px; height: 10px; border-radius: 2px; }
`;

// Runs in the browser, so it is a plain string: serialising a function would carry whatever the
// TypeScript transform added to it (helpers that do not exist in the page).
export const CLIENT_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var HEIGHT = 300;
  // Exposed for tests and the screenshot script: the chart ids, their curve names, uPlot instances.
  var report = { charts: [], ready: false };
  window.__report = report;
  var legend = document.getElementById('legend');
  var buttons = legend ? [].slice.call(legend.querySelectorAll('button')) : [];
  // The uPlot series (1-based; 0 is x) of experiment index i in a chart.
  function seriesOf(chart, i) {
    var out = [];
    chart.curves.forEach(function (curve, k) { if (curve.index === i) out.push(k + 1); });
    return out;
  }
  // Brings experiment i forward in every chart (null: all back to normal), and marks its entry.
  function focus(i) {
    report.charts.forEach(function (c) {
      var found = i === null ? [] : seriesOf(c.data, i);
      c.plot.setSeries(found.length ? found[0] : null, { focus: true }, false);
    });
    buttons.forEach(function (b) { b.classList.toggle('focused', Number(b.dataset.index) === i); });
  }
  data.charts.forEach(function (chart) {
    var el = document.getElementById(chart.id);
    var opts = {
      width: el.clientWidth || 500,
      height: HEIGHT,
      // Moving the cursor on one chart shows the same step on the other; the curve nearest the
      // cursor comes forward (the others fade), as hovering its legend entry does.
      cursor: { sync: { key: 'loss' }, focus: { prox: 24 } },
      focus: { alpha: 0.2 },
      // One legend for both charts lives above them (#legend); uPlot's own would repeat it twice.
      legend: { show: false },
      scales: {
        x: data.xRange ? { time: false, range: data.xRange } : { time: false },
        y: data.yRange ? { range: data.yRange } : {},
      },
      axes: [{ label: 'step' }, { label: chart.yLabel }],
      series: [{ label: 'step' }].concat(chart.curves.map(function (curve) {
        return { label: curve.name, stroke: curve.color, dash: curve.dash, width: 2, spanGaps: true };
      })),
      hooks: {
        setSeries: [function (u, i, opts) {
          if (!opts || opts.focus === undefined) return;
          focused = i;
          buttons.forEach(function (b) {
            b.classList.toggle('focused', i !== null && chart.curves[i - 1] && Number(b.dataset.index) === chart.curves[i - 1].index);
          });
          showReadout(u);
        }],
        setCursor: [function (u) { showReadout(u); }],
      },
    };
    // Under the chart: the step at the cursor and the value of the curve in focus (with 16
    // curves a per-curve value list would be a wall of numbers).
    var focused = null;
    var readout = document.createElement('div');
    readout.className = 'readout muted';
    readout.textContent = '\u00a0';
    function showReadout(u) {
      var idx = u.cursor.idx;
      if (idx === null || idx === undefined) { readout.textContent = '\u00a0'; return; }
      var text = 'step ' + chart.steps[idx];
      if (focused) {
        var value = chart.curves[focused - 1].values[idx];
        text += ' \u00b7 ' + chart.curves[focused - 1].name + ': ' + (value === null ? '\u2013' : value.toFixed(4));
      }
      readout.textContent = text;
    }
    var values = [chart.steps].concat(chart.curves.map(function (curve) { return curve.values; }));
    var plot = new uPlot(opts, values, el);
    el.appendChild(readout);
    report.charts.push({ id: chart.id, series: chart.curves.map(function (c) { return c.name; }), plot: plot, data: chart });
  });
  buttons.forEach(function (button) {
    var i = Number(button.dataset.index);
    button.addEventListener('mouseenter', function () { focus(i); });
    button.addEventListener('mouseleave', function () { focus(null); });
    button.addEventListener('click', function () {
      var show = button.getAttribute('aria-pressed') !== 'true';
      button.setAttribute('aria-pressed', String(show));
      report.charts.forEach(function (c) {
        seriesOf(c.data, i).forEach(function (s) { c.plot.setSeries(s, { show: show }); });
      });
    });
  });
  window.addEventListener('resize', function () {
    report.charts.forEach(function (chart) {
      var width = document.getElementById(chart.id).clientWidth;
      if (width > 0) chart.plot.setSize({ width: width, height: HEIGHT });
    });
  });
  report.ready = true;
})();
`;
