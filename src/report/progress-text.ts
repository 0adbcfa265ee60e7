// One line for a stage's progress, shared by the plain and listr2 reporters: byte counts read as
// sizes, other units as plain numbers, with a percentage when the total is known.
import type { StageProgress } from '../stage-api/index.ts';
import { formatBytes } from '../util/format.ts';

export function formatProgress(p: StageProgress): string {
  const bytes = p.unit === 'bytes';
  const amount = (n: number) => (bytes ? formatBytes(n) : String(Math.round(n * 100) / 100));
  const done = p.total ? `${amount(p.done)}/${amount(p.total)}` : amount(p.done);
  const unit = p.unit && !bytes ? ` ${p.unit}` : '';
  const pct = p.total ? ` (${((100 * p.done) / p.total).toFixed(0)}%)` : '';
  return `${done}${unit}${pct}${p.message ? ` ${p.message}` : ''}`;
}
