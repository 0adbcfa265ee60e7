// The loss breakdowns (breakdowns.ts: evaluate's loss by codebook level and by frame position) as
// grouped bars in inline SVG: a group per part, a bar per experiment in its colour, on one y axis
// from 0, so a level the model finds hard stands out, and so does the experiment that does better.
import type { BreakdownBar } from './breakdowns.ts';
import type { Comparison } from './experiment-data.ts';
import { escapeHtml, experimentStyle } from './html-common.ts';

// The drawing's own units; the SVG scales to the page's width.
const WIDTH = 1000;
const HEIGHT = 260;
const MARGIN = { left: 56, right: 12, top: 12, bottom: 44 };
/** About this many grid lines above 0. */
const TICKS = 4;

export function renderBreakdowns(c: Comparison): string {
  // Each breakdown (stage and field) once, in the order the experiments list them.
  const keys = [
    ...new Set(c.experiments.flatMap((e) => (e.breakdowns ?? []).map((b) => `${b.stage}\u0000${b.name}`))),
  ];
  if (keys.length === 0) return '';
  const figures = keys.map((key) => {
    const [stage, name] = key.split('\u0000') as [string, string];
    const series = c.experiments.map((e, index) => ({
      experiment: e.experiment,
      index,
      bars: e.breakdowns?.find((b) => b.stage === stage && b.name === name)?.bars ?? [],
    }));
    const title = `Loss ${name.replaceAll('_', ' ')}`;
    return `<figure class="bars-box" data-breakdown="${escapeHtml(`${stage}.${name}`)}"><figcaption>${escapeHtml(title)} <span class="muted">${escapeHtml(stage)}/metrics.json</span></figcaption>
${groupedBars(series)}</figure>`;
  });
  return `<section>
<h2>Loss by part</h2>
${figures.join('\n')}
</section>`;
}

interface BarSeries {
  experiment: string;
  index: number;
  bars: BreakdownBar[];
}

function groupedBars(series: BarSeries[]): string {
  // The groups: every label any experiment has, in first-seen order, with its detail.
  const groups = new Map<string, string | undefined>();
  for (const s of series)
    for (const bar of s.bars) if (!groups.has(bar.label)) groups.set(bar.label, bar.detail);
  const values = series.flatMap((s) => s.bars.map((b) => b.value ?? 0));
  const step = niceStep(Math.max(0, ...values) / TICKS);
  const ticks = Math.max(1, Math.ceil(Math.max(0, ...values) / step));
  const top = ticks * step;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const groupWidth = plotWidth / groups.size;
  // A bar per experiment plus one bar's gap between groups.
  const barWidth = groupWidth / (series.length + 1);
  const y = (v: number) => MARGIN.top + plotHeight - (top > 0 ? (v / top) * plotHeight : 0);
  const parts: string[] = [];
  for (let t = 0; t <= ticks; t++) {
    const v = step * t;
    parts.push(
      `<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${fixed(y(v))}" y2="${fixed(y(v))}"/>`,
      `<text class="tick" x="${MARGIN.left - 6}" y="${fixed(y(v) + 4)}" text-anchor="end">${formatTick(v)}</text>`,
    );
  }
  [...groups].forEach(([label, detail], g) => {
    const x0 = MARGIN.left + g * groupWidth + barWidth / 2;
    for (const s of series) {
      const bar = s.bars.find((b) => b.label === label);
      if (!bar || bar.value === null) continue;
      const { color } = experimentStyle(s.index);
      const x = x0 + series.indexOf(s) * barWidth;
      const tip = `${s.experiment} · ${label}${detail ? ` (${detail})` : ''}: ${bar.value.toFixed(4)}`;
      parts.push(
        `<rect data-experiment="${escapeHtml(s.experiment)}" data-label="${escapeHtml(label)}" data-value="${bar.value}" x="${fixed(x)}" y="${fixed(y(bar.value))}" width="${fixed(barWidth)}" height="${fixed(y(0) - y(bar.value))}" fill="${color}"><title>${escapeHtml(tip)}</title></rect>`,
      );
    }
    const cx = MARGIN.left + (g + 0.5) * groupWidth;
    parts.push(
      `<text class="label" x="${fixed(cx)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${escapeHtml(label)}</text>`,
    );
    if (detail)
      parts.push(
        `<text class="detail" x="${fixed(cx)}" y="${HEIGHT - MARGIN.bottom + 32}" text-anchor="middle">${escapeHtml(detail)}</text>`,
      );
  });
  parts.push(
    `<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${fixed(y(0))}" y2="${fixed(y(0))}"/>`,
    `<text class="tick" transform="translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">loss</text>`,
  );
  return `<svg class="bars" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img">${parts.join('')}</svg>`;
}

/** A tick step near `v`: 1, 2, 2.5 or 5 × 10^k (1 for an all-zero chart). */
function niceStep(v: number): number {
  if (!(v > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 2.5, 5]) if (step * magnitude >= v) return step * magnitude;
  return 10 * magnitude;
}

function formatTick(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

function fixed(v: number): string {
  return v.toFixed(2);
}
