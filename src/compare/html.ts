// The HTML form of a comparison: one self-contained file (no network, no external resources) with
// the train and val loss curves of every experiment (uPlot, inlined), the params that differ, the
// metrics table and an audio player for every WAV of the pipeline's last stages (embedded as data
// URIs). It must open from a mail attachment or a CI artefact years later, so nothing is fetched.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { formatBytes } from '../util/format.ts';
import type { AudioFile, Comparison, ExperimentResult } from './experiment-data.ts';
import { REPORT_MARKER } from './report-file.ts';
import { comparisonRows } from './text.ts';

/** WAVs above this are not embedded: base64 grows them by a third and browsers choke on huge pages. */
export const MAX_EMBEDDED_AUDIO_BYTES = 20 * 1024 * 1024;

/** The curves of the report, in order; the series names are the `metrics.jsonl` fields. */
const CHARTS = [
  { id: 'chart-loss', series: 'loss', title: 'Train loss' },
  { id: 'chart-val-loss', series: 'val_loss', title: 'Val loss' },
] as const;

// Tableau 10: distinct on screen and in print; experiments beyond ten get golden-angle hues.
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

export function experimentColor(index: number): string {
  return PALETTE[index] ?? `hsl(${Math.round((index * 137.508) % 360)} 60% 45%)`;
}

/** One chart as the page's script reads it: x values and one y array per curve, aligned on x. */
export interface ChartData {
  id: string;
  title: string;
  yLabel: string;
  steps: number[];
  curves: { name: string; color: string; values: (number | null)[] }[];
}

export interface ReportData {
  charts: ChartData[];
  /** Shared by both charts so train and val loss read against the same axes; null when no curves. */
  xRange: [number, number] | null;
  yRange: [number, number] | null;
}

export function renderReport(c: Comparison): string {
  const names = c.experiments.map((e) => e.experiment);
  const title = `Comparison: ${names.join(' vs ')}`;
  const data = reportData(c);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${REPORT_MARKER}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${inlineStyle(asset('uplot/dist/uPlot.min.css'))}</style>
<style>${inlineStyle(PAGE_CSS)}</style>
</head>
<body>
<main>
${renderHeader(c)}
${renderCharts(data)}
${renderTables(c)}
${renderAudio(c)}
</main>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${inlineScript(asset('uplot/dist/uPlot.iife.min.js'))}</script>
<script>${inlineScript(CLIENT_SCRIPT)}</script>
</body>
</html>
`;
}

/**
 * The charts' data: for each chart the union of the steps of every experiment's curve, with null
 * where a curve has no point (uPlot wants every series on the same x array; spanGaps joins them).
 */
export function reportData(c: Comparison): ReportData {
  const charts: ChartData[] = [];
  for (const chart of CHARTS) {
    const curves: { name: string; color: string; points: [number, number][] }[] = [];
    c.experiments.forEach((e, i) => {
      const found = e.series.filter((s) => s.name === chart.series && s.points.length > 0);
      // Normally one stage (train) writes the series; if several do, each is a curve, named by stage.
      for (const s of found)
        curves.push({
          name: found.length > 1 ? `${e.experiment} (${s.stage})` : e.experiment,
          color: experimentColor(i),
          points: s.points,
        });
    });
    if (curves.length === 0) continue;
    const steps = [...new Set(curves.flatMap((cv) => cv.points.map(([step]) => step)))].sort((a, b) => a - b);
    const index = new Map(steps.map((step, i) => [step, i]));
    charts.push({
      id: chart.id,
      title: chart.title,
      yLabel: chart.series,
      steps,
      curves: curves.map((cv) => {
        const values: (number | null)[] = steps.map(() => null);
        // A resumed run can log a step twice; the later line is the one that counts.
        for (const [step, value] of cv.points) values[index.get(step)!] = value;
        return { name: cv.name, color: cv.color, values };
      }),
    });
  }
  const xs = charts.flatMap((ch) => ch.steps);
  const ys = charts.flatMap((ch) => ch.curves.flatMap((cv) => cv.values.filter((v) => v !== null)));
  return { charts, xRange: span(xs, 0), yRange: span(ys, 0.05) };
}

/** [min, max] of `values`, widened by `pad` of the span (or by 1 around a single value). */
function span(values: number[], pad: number): [number, number] | null {
  if (values.length === 0) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === hi) return [lo - 1, hi + 1];
  const margin = (hi - lo) * pad;
  return [lo - margin, hi + margin];
}

function renderHeader(c: Comparison): string {
  const items = c.experiments
    .map(
      (e, i) => `<li>${swatch(i)}<strong>${escapeHtml(e.experiment)}</strong>
  <code title="${escapeHtml(e.specFile)}">${escapeHtml(relative(c.projectRoot, e.specFile) || e.specFile)}</code>
  <span class="muted">run <time datetime="${escapeHtml(e.updatedAt)}">${escapeHtml(formatDate(e.updatedAt))}</time></span></li>`,
    )
    .join('\n');
  return `<header>
<h1>${c.experiments.map((e) => escapeHtml(e.experiment)).join(' <span class="muted">vs</span> ')}</h1>
<ul class="experiments">
${items}
</ul>
</header>`;
}

function renderCharts(data: ReportData): string {
  const figures = CHARTS.map((chart) => {
    const present = data.charts.some((ch) => ch.id === chart.id);
    const body = present
      ? `<div class="chart" id="${chart.id}"></div>`
      : `<p class="note">No experiment logged <code>${chart.series}</code>.</p>`;
    return `<figure class="chart-box"><figcaption>${escapeHtml(chart.title)} <span class="muted">vs step</span></figcaption>${body}</figure>`;
  }).join('\n');
  return `<section>
<h2>Loss curves</h2>
<div class="charts">
${figures}
</div>
</section>`;
}

/** The params that differ and the metrics, as in the terminal table: one column per experiment. */
function renderTables(c: Comparison): string {
  const rows = comparisonRows(c);
  const head = `<thead><tr><th></th>${c.experiments
    .map((e, i) => `<th scope="col">${swatch(i)}${escapeHtml(e.experiment)}</th>`)
    .join('')}</tr></thead>`;
  const table = (section: 'params' | 'metrics', heading: string, empty: string) => {
    const part = rows.filter((r) => r.section === section);
    const body = part.length
      ? `<div class="scroll"><table>${head}<tbody>${part
          .map(
            (r) =>
              `<tr><th scope="row"><code>${escapeHtml(r.label)}</code></th>${r.cells
                .map((cell) => `<td>${escapeHtml(cell)}</td>`)
                .join('')}</tr>`,
          )
          .join('\n')}</tbody></table></div>`
      : `<p class="note">${empty}</p>`;
    return `<section>\n<h2>${heading}</h2>\n${body}\n</section>`;
  };
  return [
    table('params', 'Params that differ', 'The experiments use the same params.'),
    table('metrics', 'Metrics', 'No stage result differs between the experiments.'),
  ].join('\n');
}

/**
 * A row per audio file name (stage and path), a player per experiment in it, so the same sample of
 * each experiment sits side by side.
 */
function renderAudio(c: Comparison): string {
  const groups = new Map<string, { experiment: ExperimentResult; index: number; file: AudioFile }[]>();
  c.experiments.forEach((experiment, index) => {
    for (const file of experiment.audio) {
      const key = `${file.stage}/${file.name}`;
      const group = groups.get(key) ?? [];
      group.push({ experiment, index, file });
      groups.set(key, group);
    }
  });
  if (groups.size === 0)
    return `<section>\n<h2>Audio</h2>\n<p class="note">The last stages wrote no WAV files.</p>\n</section>`;
  const rows = [...groups].map(
    ([key, group]) => `<div class="audio-row">
<h3><code>${escapeHtml(key)}</code></h3>
<div class="audio-grid">
${group.map(({ experiment, index, file }) => audioFigure(experiment, index, file)).join('\n')}
</div>
</div>`,
  );
  return `<section>\n<h2>Audio</h2>\n${rows.join('\n')}\n</section>`;
}

function audioFigure(e: ExperimentResult, index: number, file: AudioFile): string {
  // The data attributes name the figure for scripts (tests) without parsing the caption.
  const open = `<figure class="audio" data-experiment="${escapeHtml(e.experiment)}" data-audio="${escapeHtml(`${file.stage}/${file.name}`)}">`;
  const caption = `<figcaption>${swatch(index)}<strong>${escapeHtml(e.experiment)}</strong>
  <span class="muted">${escapeHtml(file.stage)} · ${escapeHtml(file.name)} · ${formatBytes(file.bytes)}</span></figcaption>`;
  if (file.bytes > MAX_EMBEDDED_AUDIO_BYTES)
    return `${open}${caption}<p class="note">Not embedded: ${formatBytes(file.bytes)} is over the ${formatBytes(MAX_EMBEDDED_AUDIO_BYTES)} limit. The file is at <code>${escapeHtml(file.path)}</code>.</p></figure>`;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file.path);
  } catch (error) {
    // A report with a hole beats no report; the note says which file and why.
    return `${open}${caption}<p class="note">Could not read <code>${escapeHtml(file.path)}</code>: ${escapeHtml((error as Error).message)}</p></figure>`;
  }
  return `${open}${caption}<audio controls preload="metadata" src="data:audio/wav;base64,${bytes.toString('base64')}"></audio></figure>`;
}

function swatch(index: number): string {
  return `<span class="swatch" style="background:${experimentColor(index)}"></span>`;
}

/** "2025-11-25T10:58:03.123Z" as "2025-11-25 10:58 UTC"; anything unparseable as it is. */
function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** JSON inside <script>: `<` as \u003c so no `</script>` or `<!--` in the data can end the element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replaceAll('<', '\\u003c');
}

/** Inlined JavaScript: `</script` would close the element; `<\/script` means the same to JS. */
function inlineScript(code: string): string {
  return code.replace(/<\/script/gi, '<\\/script');
}

/** Inlined CSS: likewise for `</style` (`\/` is an escaped `/` in CSS). */
function inlineStyle(css: string): string {
  return css.replace(/<\/style/gi, '<\\/style');
}

/**
 * A file of an installed package, read at run time: resolved from this module, which works from
 * src/ under tsx and from the esbuild chunk in dist/ alike (both find the same node_modules).
 */
function asset(specifier: string): string {
  return readFileSync(createRequire(import.meta.url).resolve(specifier), 'utf8');
}

const PAGE_CSS = `
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
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
ul.experiments { list-style: none; padding: 0; margin: 0; }
ul.experiments li { margin: 4px 0; }
ul.experiments code { margin: 0 8px; color: var(--muted); word-break: break-all; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
figure { margin: 0; }
.chart-box { border: 1px solid var(--line); border-radius: 6px; padding: 12px; min-width: 0; }
.chart-box figcaption { font-weight: 600; margin-bottom: 8px; }
.chart { width: 100%; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); white-space: nowrap; }
thead th { text-align: right; background: var(--bg-soft); }
tbody th { text-align: left; font-weight: normal; }
td { text-align: right; }
tbody tr:hover { background: var(--bg-soft); }
.audio-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
.audio { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--bg-soft); }
.audio figcaption { margin-bottom: 6px; }
.audio figcaption .muted { display: block; font-size: 0.85em; }
.audio audio { width: 100%; }
`;

// Runs in the browser, so it is a plain string: serialising a function would carry whatever the
// TypeScript transform added to it (helpers that do not exist in the page).
const CLIENT_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var HEIGHT = 300;
  // Exposed for tests and the screenshot script: the chart ids, their curve names, uPlot instances.
  var report = { charts: [], ready: false };
  window.__report = report;
  data.charts.forEach(function (chart) {
    var el = document.getElementById(chart.id);
    var opts = {
      width: el.clientWidth || 500,
      height: HEIGHT,
      // Moving the cursor on one chart shows the same step on the other.
      cursor: { sync: { key: 'loss' } },
      scales: {
        x: data.xRange ? { time: false, range: data.xRange } : { time: false },
        y: data.yRange ? { range: data.yRange } : {},
      },
      axes: [{ label: 'step' }, { label: chart.yLabel }],
      series: [{ label: 'step' }].concat(chart.curves.map(function (curve) {
        return { label: curve.name, stroke: curve.color, width: 2, spanGaps: true };
      })),
    };
    var values = [chart.steps].concat(chart.curves.map(function (curve) { return curve.values; }));
    var plot = new uPlot(opts, values, el);
    report.charts.push({ id: chart.id, series: chart.curves.map(function (c) { return c.name; }), plot: plot });
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
