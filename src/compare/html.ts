// The HTML form of a comparison: one self-contained file (no network, no external resources) with
// the train and val loss curves of every experiment (uPlot, inlined) under one shared legend, the
// params that differ, the metrics table, the loss breakdowns as grouped bars (html-bars.ts), and
// the audio: the reference row, then a player and a spectrogram for every WAV of the pipeline's
// last stages (html-audio.ts, embedded as data URIs). It must open from a mail attachment or a CI
// artefact years later, so nothing is fetched.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import type { Comparison } from './experiment-data.ts';
import { CLIENT_SCRIPT, PAGE_CSS } from './html-assets.ts';
import { renderAudio } from './html-audio.ts';
import { renderBreakdowns } from './html-bars.ts';
import { escapeHtml, experimentStyle, swatch } from './html-common.ts';
import { REPORT_MARKER } from './report-file.ts';
import { comparisonRows, sweepTable } from './text.ts';

/** The curves of the report, in order; the series names are the `metrics.jsonl` fields. */
const CHARTS = [
  { id: 'chart-loss', series: 'loss', title: 'Train loss' },
  { id: 'chart-val-loss', series: 'val_loss', title: 'Val loss' },
] as const;

/** One chart as the page's script reads it: x values and one y array per curve, aligned on x. */
export interface ChartData {
  id: string;
  title: string;
  yLabel: string;
  steps: number[];
  /** `index`: the experiment's place, for its legend entry; `dash`: empty for a solid line. */
  curves: { name: string; index: number; color: string; dash: number[]; values: (number | null)[] }[];
}

export interface ReportData {
  charts: ChartData[];
  /** Shared by both charts so train and val loss read against the same axes; null when no curves. */
  xRange: [number, number] | null;
  yRange: [number, number] | null;
}

export function renderReport(c: Comparison): string {
  const names = c.experiments.map((e) => e.experiment);
  const title = c.sweep
    ? `Sweep ${c.sweep.sweep}: ${c.sweep.variants.length} variants`
    : `Comparison: ${names.join(' vs ')}`;
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
${renderCharts(c, data)}
${renderSweep(c)}
${renderTables(c)}
${renderBreakdowns(c)}
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
    const curves: { name: string; index: number; points: [number, number][] }[] = [];
    c.experiments.forEach((e, i) => {
      const found = e.series.filter((s) => s.name === chart.series && s.points.length > 0);
      // Normally one stage (train) writes the series; if several do, each is a curve, named by stage.
      for (const s of found)
        curves.push({
          name: found.length > 1 ? `${e.experiment} (${s.stage})` : e.experiment,
          index: i,
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
        return { name: cv.name, index: cv.index, ...experimentStyle(cv.index), values };
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
  // A sweep's variants are too many and too long to join into a title: it is named by the sweep.
  const title = c.sweep
    ? `Sweep ${escapeHtml(c.sweep.sweep)} <span class="muted">${c.sweep.variants.length} variants of ${c.sweep.params.map(escapeHtml).join(' × ')}</span>`
    : c.experiments.map((e) => escapeHtml(e.experiment)).join(' <span class="muted">vs</span> ');
  return `<header>
<h1>${title}</h1>
<ul class="experiments">
${items}
</ul>
</header>`;
}

function renderCharts(c: Comparison, data: ReportData): string {
  const figures = CHARTS.map((chart) => {
    const present = data.charts.some((ch) => ch.id === chart.id);
    const body = present
      ? `<div class="chart" id="${chart.id}"></div>`
      : `<p class="note">No experiment logged <code>${chart.series}</code>.</p>`;
    return `<figure class="chart-box"><figcaption>${escapeHtml(chart.title)} <span class="muted">vs step</span></figcaption>${body}</figure>`;
  }).join('\n');
  return `<section>
<h2>Loss curves</h2>
${renderLegend(c, data)}
<div class="charts">
${figures}
</div>
</section>`;
}

/**
 * One legend for both charts, as a wrapping list that reads with 16 or more experiments: hovering an
 * entry brings its curves forward in every chart, clicking one hides or shows them (the script).
 */
function renderLegend(c: Comparison, data: ReportData): string {
  if (data.charts.length === 0) return '';
  const items = c.experiments.map(
    (e, i) =>
      `<li><button type="button" data-index="${i}" aria-pressed="true">${swatch(i)}${escapeHtml(e.experiment)}</button></li>`,
  );
  return `<ul class="legend" id="legend">${items.join('')}</ul>`;
}

/**
 * A sweep's variants as `compare SWEEP` prints them: a line per variant, the swept params and the
 * loss-like metrics as columns, the best by `--by` marked. Empty when not comparing a sweep.
 */
function renderSweep(c: Comparison): string {
  const table = sweepTable(c);
  if (!table || !c.sweep) return '';
  const index = new Map(c.experiments.map((e, i) => [e.experiment, i]));
  const head = `<thead><tr><th scope="col">variant</th>${table.columns
    .map((col) => `<th scope="col"><code>${escapeHtml(col)}</code></th>`)
    .join('')}</tr></thead>`;
  const body = table.rows
    .map((r) => {
      const i = index.get(r.variant);
      const name = `${i === undefined ? '' : swatch(i)}${escapeHtml(r.variant)}${r.finished ? '' : ' <span class="muted">(no finished run)</span>'}`;
      return `<tr${r.best ? ' class="best"' : ''}><th scope="row">${name}${r.best ? ' <strong>best</strong>' : ''}</th>${r.cells
        .map((cell) => `<td>${escapeHtml(cell)}</td>`)
        .join('')}</tr>`;
    })
    .join('\n');
  const by = c.by
    ? `<p class="note">Best by <code>${escapeHtml(c.by.metric)}</code> (${c.by.direction === 'min' ? 'lower' : 'higher'} is better): ${c.by.best ? escapeHtml(c.by.best) : 'no variant has this metric'}.</p>`
    : '';
  return `<section>\n<h2>Sweep</h2>\n<div class="scroll"><table class="sweep">${head}<tbody>${body}</tbody></table></div>\n${by}\n</section>`;
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

/** "2025-11-25T10:58:03.123Z" as "2025-11-25 10:58 UTC"; anything unparseable as it is. */
function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
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
