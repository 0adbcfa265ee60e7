// What every part of the HTML report shares: escaping, and each experiment's colour and line style,
// so a curve, its legend entry, its bars and its audio caption carry the same mark.

// Tableau 10 first (distinct on screen and in print), then ten more that differ from those; the
// second ten draw dashed, so even a 16- or 20-variant sweep has no two curves that look alike.
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
  '#2f4b7c',
  '#d45087',
  '#00a087',
  '#7b3294',
  '#bcbd22',
  '#17becf',
  '#8c2d04',
  '#636363',
  '#1a9641',
  '#fdae61',
];
/** The dash of experiments 10 and up (uPlot's and SVG's dash arrays alike: on, off in px). */
const DASH = [6, 3];

export interface ExperimentStyle {
  color: string;
  /** Empty for a solid line. */
  dash: number[];
}

/** The colour and dash of the `index`-th experiment; past the palette, golden-angle hues. */
export function experimentStyle(index: number): ExperimentStyle {
  const color = PALETTE[index] ?? `hsl(${Math.round((index * 137.508) % 360)} 60% 45%)`;
  return { color, dash: index >= 10 ? DASH : [] };
}

/** A short line in the experiment's colour and dash: the same mark as its curve. */
export function swatch(index: number): string {
  const { color, dash } = experimentStyle(index);
  const dashed = dash.length ? ` stroke-dasharray="${dash.join(' ')}"` : '';
  return `<svg class="swatch" width="18" height="10" aria-hidden="true"><line x1="1" y1="5" x2="17" y2="5" stroke="${color}" stroke-width="4"${dashed}/></svg>`;
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
