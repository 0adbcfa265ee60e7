// One line per finished stage, shared by the plain and listr2 reporters.

import type { StageOutcome } from '../run/events.ts';
import { formatSeconds } from '../util/format.ts';

const SYMBOL: Record<StageOutcome['status'], string> = {
  ran: '✔',
  cached: '✔',
  'would-run': '○',
  failed: '✖',
  skipped: '-',
};

/** `✔ name  ran in 1.2s`; listr2 draws its own symbol, so it asks for the text alone. */
export function describeOutcome(outcome: StageOutcome, width = 0, withSymbol = true): string {
  const name = outcome.name.padEnd(width);
  const detail =
    outcome.status === 'ran'
      ? `ran in ${formatSeconds(outcome.seconds)}`
      : outcome.status === 'cached'
        ? 'cached'
        : outcome.status === 'failed'
          ? `failed${outcome.seconds ? ` after ${formatSeconds(outcome.seconds)}` : ''}`
          : `${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''}`;
  return withSymbol ? `${SYMBOL[outcome.status]} ${name}  ${detail}` : `${name}  ${detail}`;
}
