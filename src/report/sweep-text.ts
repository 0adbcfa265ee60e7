// The words of a sweep's outcome, shared by the terminal, log and JSON forms: each variant's state
// and a one-line summary of its stages.
import type { StageOutcome } from '../run/events.ts';

/**
 * done: every stage ran or was cached; failed: a stage failed (its own or a shared one);
 * stopped: Ctrl-C or a closed stdout stopped it; planned: a dry run; incomplete: stages were
 * skipped without a failure (a stage of a shared key was stopped elsewhere).
 */
export type VariantState = 'done' | 'failed' | 'stopped' | 'planned' | 'incomplete';

export function variantState(outcomes: readonly StageOutcome[]): VariantState {
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.some((o) => (o.error as { code?: string } | undefined)?.code === 'E_INTERRUPTED'))
    return 'stopped';
  if (failed.length > 0) return 'failed';
  if (outcomes.some((o) => o.status === 'would-run')) return 'planned';
  if (outcomes.some((o) => o.status === 'skipped')) return 'incomplete';
  return 'done';
}

export const STATE_SYMBOL: Record<VariantState, string> = {
  done: '✔',
  failed: '✖',
  stopped: '✖',
  planned: '○',
  incomplete: '-',
};

/** `8 stages: 3 ran, 5 cached`, and for a failure the stage that failed first. */
export function variantSummary(outcomes: readonly StageOutcome[]): string {
  const count = (status: StageOutcome['status']) => outcomes.filter((o) => o.status === status).length;
  const parts = (['ran', 'cached', 'would-run', 'failed', 'skipped'] as const)
    .filter((s) => count(s) > 0 || s === 'ran' || s === 'cached')
    .map((s) => `${count(s)} ${s}`);
  const failed = outcomes.find((o) => o.status === 'failed');
  const where = failed ? ` (${failed.name} failed${failed.shared ? `, ${failed.reason}` : ''})` : '';
  return `${outcomes.length} stage${outcomes.length === 1 ? '' : 's'}: ${parts.join(', ')}${where}`;
}
