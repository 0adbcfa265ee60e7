// Following a job: poll its state, stream its log file as it grows, cancel it on Ctrl-C.
import { open } from 'node:fs/promises';
import type { Emit } from '../events.ts';
import { exec, type JobState, jobState, TERMINAL } from './scontrol.ts';

/** How many log lines a finished or failed stage keeps for its report. */
export const TAIL_LINES = 40;
// Doubling from 500 ms to 4 s, and each sleep ends on a multiple of its length on the clock: a run
// follows all its jobs at once, and their polls then fall due together, so one squeue call answers
// for all of them (scontrol.ts, jobState).
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 4000;

export interface FollowRequest {
  stage: string;
  signal: AbortSignal;
  emit: Emit;
}

/** Polls the job until it ends, emitting its log lines as they come; cancels it on abort. */
export async function followJob(
  jobId: string,
  logPath: string,
  req: FollowRequest,
  /** False for a job another run submitted: on Ctrl-C this run stops waiting but leaves it alone. */
  own = true,
): Promise<{ state: JobState; lines: string[] }> {
  const lines: string[] = [];
  const drain = logReader(logPath, (line) => {
    lines.push(line);
    if (lines.length > TAIL_LINES * 4) lines.splice(0, lines.length - TAIL_LINES);
    req.emit({ type: 'stage-log', stage: req.stage, line });
  });

  let cancelled = false;
  let cancelDeadline = 0;
  let wake: (() => void) | undefined;
  const onAbort = () => {
    wake?.();
  };
  req.signal.addEventListener('abort', onAbort, { once: true });
  try {
    let delay = POLL_FIRST_MS;
    for (;;) {
      if (req.signal.aborted && !own) return { state: { state: 'CANCELLED' }, lines };
      if (req.signal.aborted && !cancelled) {
        cancelled = true;
        cancelDeadline = Date.now() + 15_000;
        await exec('scancel', [jobId]);
        delay = POLL_FIRST_MS;
      }
      const state = await jobState(jobId);
      await drain(false);
      if (state && TERMINAL(state.state)) {
        await drain(true);
        return { state, lines };
      }
      if (cancelled && Date.now() > cancelDeadline) return { state: state ?? { state: 'CANCELLED' }, lines };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay - (Date.now() % delay));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      delay = Math.min(POLL_MAX_MS, delay * 2);
    }
  } finally {
    req.signal.removeEventListener('abort', onAbort);
  }
}

/** Reads a growing log file from where it left off; each call hands complete lines to `onLine`. */
function logReader(logPath: string, onLine: (line: string) => void): (final: boolean) => Promise<void> {
  let offset = 0;
  let partial = '';
  return async (final) => {
    const handle = await open(logPath, 'r').catch(() => undefined);
    if (!handle) return;
    try {
      const { size } = await handle.stat();
      if (size > offset) {
        const buffer = Buffer.alloc(size - offset);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        offset += bytesRead;
        const parts = (partial + buffer.subarray(0, bytesRead).toString('utf8')).split(/\r?\n|\r/);
        partial = parts.pop() ?? '';
        for (const line of parts) onLine(line);
      }
      if (final && partial) {
        onLine(partial);
        partial = '';
      }
    } finally {
      await handle.close();
    }
  };
}
