// The terminal and Markdown forms of a comparison: one column per experiment, the params that
// differ, then the metrics of the stages whose results differ; and sparklines of loss curves.
import { formatValue as formatSweptValue } from '../pipeline/sweep-names.ts';
import { type Comparison, type ExperimentResult, metricOf, type Series } from './experiment-data.ts';

interface Row {
  section: 'params' | 'metrics';
  label: string;
  cells: string[];
}

/** Rows of the comparison table (params that differ, then metrics of differing stages). */
export function comparisonRows(c: Comparison): Row[] {
  const rows: Row[] = [];
  for (const name of c.differingParams)
    rows.push({
      section: 'params',
      label: name,
      cells: formatRow(c.experiments.map((e) => e.params[name])),
    });
  const seen = new Set<string>();
  for (const stage of c.differingStages) {
    for (const e of c.experiments) {
      const metrics = e.stages.find((s) => s.name === stage)?.metrics ?? {};
      for (const [metric, value] of Object.entries(metrics)) {
        const label = `${stage}.${metric}`;
        if (seen.has(label) || !isScalar(value)) continue;
        seen.add(label);
        rows.push({
          section: 'metrics',
          label,
          cells: formatRow(c.experiments.map((x) => x.stages.find((s) => s.name === stage)?.metrics[metric])),
        });
      }
    }
  }
  return rows;
}

export function formatTable(c: Comparison): string {
  const rows = comparisonRows(c);
  const names = c.experiments.map((e) => e.experiment);
  const labelWidth = Math.max(8, ...rows.map((r) => r.label.length + 2));
  const widths = names.map((n, i) => Math.max(n.length, ...rows.map((r) => r.cells[i]!.length)));
  const line = (label: string, cells: string[]) =>
    `${label.padEnd(labelWidth)}  ${cells.map((cell, i) => cell.padStart(widths[i]!)).join('  ')}`.trimEnd();
  const out = [line('', names)];
  for (const section of ['params', 'metrics'] as const) {
    const part = rows.filter((r) => r.section === section);
    if (part.length === 0) continue;
    out.push(section === 'params' ? 'params that differ' : 'metrics');
    for (const r of part) out.push(line(`  ${r.label}`, r.cells));
  }
  return `${out.join('\n')}\n`;
}

/** The `--by` line under a table: which experiment is best, by what. */
export function formatBest(c: Comparison): string {
  if (!c.by) return '';
  const how = c.by.direction === 'min' ? 'lower is better' : 'higher is better';
  return c.by.best
    ? `best by ${c.by.metric} (${how}): ${c.by.best}\n`
    : `best by ${c.by.metric}: no experiment has this metric\n`;
}

/** A sweep's table as cells: a line per variant with its swept values and metric columns. */
export interface SweepTable {
  /** Swept params, then metrics. */
  columns: string[];
  rows: { variant: string; finished: boolean; best: boolean; cells: string[] }[];
}

/** The cells of a sweep's table, shared by the terminal and the HTML report. */
export function sweepTable(c: Comparison): SweepTable | undefined {
  const view = c.sweep;
  if (!view) return undefined;
  const results = new Map(c.experiments.map((e) => [e.experiment, e]));
  const metrics = sweepMetrics(c);
  // Swept values as people write them (6e-4), as in the variants' names.
  const paramCells = view.params.map((p) => view.variants.map((v) => formatSweptValue(v.values[p])));
  const metricCells = metrics.map((m) =>
    formatRow(
      view.variants.map((v) =>
        results.has(v.experiment) ? metricOf(results.get(v.experiment)!, m) : undefined,
      ),
    ),
  );
  return {
    columns: [...view.params, ...metrics],
    rows: view.variants.map((v, i) => ({
      variant: v.experiment,
      finished: v.finished,
      best: c.by?.best === v.experiment,
      cells: [...paramCells.map((col) => col[i]!), ...metricCells.map((col) => col[i]!)],
    })),
  };
}

/**
 * A sweep as a table with a line per variant: its swept params, then the loss-like metrics of the
 * stages whose results differ (and the `--by` metric); `*` marks the best variant.
 */
export function formatSweepTable(c: Comparison): string {
  const table = sweepTable(c);
  if (!table || !c.sweep) return formatTable(c);
  const header = ['', 'variant', ...table.columns];
  const rows = table.rows.map((r) => [
    r.best ? '*' : ' ',
    r.finished ? r.variant : `${r.variant} (no finished run)`,
    ...r.cells,
  ]);
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, j) => (j < 2 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!)))
      .join('  ')
      .trimEnd();
  const finished = table.rows.filter((r) => r.finished).length;
  return [
    `sweep ${c.sweep.sweep}: ${table.rows.length} variants, ${finished} with a finished run`,
    line(header),
    ...rows.map(line),
    formatBest(c).trimEnd(),
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}

/** Metric columns of a sweep table: loss-like scalars of differing stages, then the `--by` one. */
export function sweepMetrics(c: Comparison): string[] {
  const names: string[] = [];
  for (const stage of c.differingStages)
    for (const e of c.experiments)
      for (const [metric, value] of Object.entries(e.stages.find((s) => s.name === stage)?.metrics ?? {}))
        if (/loss/i.test(metric) && typeof value === 'number' && !names.includes(`${stage}.${metric}`))
          names.push(`${stage}.${metric}`);
  if (c.by && !names.includes(c.by.metric)) names.push(c.by.metric);
  return names;
}

export function formatMarkdown(c: Comparison): string {
  const rows = comparisonRows(c);
  const cell = (s: string) => s.replaceAll('|', '\\|');
  const out = [
    `| | ${c.experiments.map((e) => cell(e.experiment)).join(' | ')} |`,
    `|---|${c.experiments.map(() => '---:').join('|')}|`,
  ];
  for (const section of ['params', 'metrics'] as const) {
    const part = rows.filter((r) => r.section === section);
    if (part.length === 0) continue;
    out.push(
      `| **${section === 'params' ? 'params that differ' : 'metrics'}** |${c.experiments.map(() => ' |').join('')}`,
    );
    for (const r of part) out.push(`| \`${cell(r.label)}\` | ${r.cells.map(cell).join(' | ')} |`);
  }
  return `${out.join('\n')}\n`;
}

const BARS = '▁▂▃▄▅▆▇█';

/** A sparkline of `points` in `width` columns (bucket means), scaled between min and max. */
export function sparkline(points: [number, number][], width: number): string {
  if (points.length === 0) return '';
  const buckets: number[] = [];
  const n = Math.min(width, points.length);
  for (let b = 0; b < n; b++) {
    const from = Math.floor((b * points.length) / n);
    const to = Math.max(from + 1, Math.floor(((b + 1) * points.length) / n));
    let sum = 0;
    for (let i = from; i < to; i++) sum += points[i]![1];
    buckets.push(sum / (to - from));
  }
  const lo = Math.min(...buckets);
  const hi = Math.max(...buckets);
  return buckets
    .map(
      (v) =>
        BARS[hi === lo ? 0 : Math.min(BARS.length - 1, Math.floor(((v - lo) / (hi - lo)) * BARS.length))],
    )
    .join('');
}

/** Sparklines of every `loss` and `val_loss` series, one line per experiment and series. */
export function formatPlot(c: Comparison, width = 48): string {
  const wanted = (s: Series) => s.name === 'loss' || s.name === 'val_loss';
  const lines: string[] = [];
  const nameWidth = Math.max(0, ...c.experiments.map((e) => e.experiment.length));
  // Train loss before val loss.
  const seriesNames = [...new Set(c.experiments.flatMap((e) => e.series.filter(wanted).map(label)))].sort(
    (a, b) => Number(a.endsWith('/val_loss')) - Number(b.endsWith('/val_loss')) || a.localeCompare(b),
  );
  for (const name of seriesNames) {
    lines.push(name);
    for (const e of c.experiments) {
      const s = e.series.find((x) => label(x) === name);
      if (!s || s.points.length === 0) continue;
      const first = s.points[0]![1];
      const last = s.points.at(-1)![1];
      lines.push(
        `  ${e.experiment.padEnd(nameWidth)}  ${first.toFixed(3).padStart(8)} ${sparkline(s.points, width)} ${last.toFixed(3)}  (${s.points.length} points, steps ${s.points[0]![0]}–${s.points.at(-1)![0]})`,
      );
    }
  }
  return lines.length
    ? `${lines.join('\n')}\n`
    : 'no loss curves (no stage wrote metrics.jsonl with loss or val_loss)\n';
}

function label(s: Series): string {
  return `${s.stage}/${s.name}`;
}

function isScalar(value: unknown): boolean {
  return (
    typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean' || value === null
  );
}

/**
 * One row's cells. Numbers: thousands separators, and one number of decimals for the whole row
 * (4, or 1 when every fraction is ≥ 100), so that 3,954.2 and 4,820.0 line up as one quantity.
 * Fractions of very large or small magnitude use exponents.
 */
export function formatRow(values: unknown[]): string[] {
  const plain = (v: unknown): v is number =>
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (Number.isInteger(v) || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6));
  const fractions = values.filter((v) => plain(v) && !Number.isInteger(v)) as number[];
  const decimals = fractions.length === 0 ? 0 : fractions.every((v) => Math.abs(v) >= 100) ? 1 : 4;
  return values.map((v) =>
    plain(v)
      ? v.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
      : formatValue(v),
  );
}

/** Anything but a plain number (those go through formatRow). */
function formatValue(value: unknown): string {
  if (value === undefined) return '–';
  if (typeof value === 'number') return Number.isFinite(value) ? value.toExponential(3) : String(value);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // Long strings (backend details, paths) would widen every column; the JSON output has them whole.
  return text.length > 28 ? `${text.slice(0, 27)}…` : text;
}

export type { ExperimentResult };
