// One line for a stage's progress, shared by the plain and listr2 reporters: byte counts read as
// sizes, other units as plain numbers, with a percentage when the total is known.
import type { StageProgress } from '../stage-api/index.ts';

export function formatProgress(p: StageProgress): string {
  const bytes = p.unit === 'bytes';
  const amount = (n: number) => (bytes ? formatBytes(n) : String(Math.round(n * 100) / 100));
  const done = p.total ? `${amount(p.done)}/${amount(p.total)}` : amount(p.done);
  const unit = p.unit && !bytes ? ` ${p.unit}` : '';
  const pct = p.total ? ` (${((100 * p.done) / p.total).toFixed(0)}%)` : '';
  return `${done}${unit}${pct}${p.message ? ` ${p.message}` : ''}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}
