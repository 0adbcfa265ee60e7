// Byte progress for ctx.progress: at most 10 updates a second (a fast download calls back per chunk),
// plus the final one, each with the transfer rate and the time left in its message.
import { formatBytes, formatEta, type StageProgress } from '../../src/stage-api/index.ts';

const MIN_INTERVAL_MS = 100;

/** Reports `done` of `total` bytes (total undefined when unknown). */
export type ByteReporter = (done: number, total: number | undefined) => void;

/**
 * A throttled reporter over `report`, labelled (e.g. with the file name, or a function for a label
 * that changes, like "3/12 files"); `now` is injectable so tests need no real clock.
 */
export function byteProgress(
  report: (progress: StageProgress) => void,
  label: string | (() => string),
  now: () => number = Date.now,
): ByteReporter {
  const started = now();
  let last = -Infinity;
  return (done, total) => {
    const t = now();
    if (t - last < MIN_INTERVAL_MS && done !== total) return; // the last update always shows
    last = t;
    const seconds = (t - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const parts = [typeof label === 'string' ? label : label()];
    if (rate > 0) parts.push(`${formatBytes(rate)}/s`);
    if (rate > 0 && total !== undefined && total > done)
      parts.push(`ETA ${formatEta((total - done) / rate)}`);
    report({ done, ...(total === undefined ? {} : { total }), unit: 'bytes', message: parts.join(' ') });
  };
}
