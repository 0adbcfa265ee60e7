// Retries a network operation with exponential backoff. Only failures marked RetryableError (5xx,
// 408, 429, dropped connections, idle timeouts) are tried again; anything else, and an aborted
// signal, ends the loop at once. The last failure becomes an error that names what, why and how often.
import { setTimeout as sleep } from 'node:timers/promises';
import { StageError } from '../../src/stage-api/index.ts';

/** A failure worth another try; `reason` is the status line or network error shown to people. */
export class RetryableError extends Error {
  constructor(
    readonly reason: string,
    /** The server's Retry-After, in milliseconds, when it sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(reason);
    this.name = 'RetryableError';
  }
}

export interface RetryOptions {
  /** Tries after the first one (0: a single try). */
  retries: number;
  /** Delay before the first retry; it doubles each time (with jitter), capped at 30 s. */
  baseMs: number;
  signal?: AbortSignal;
  /** Told before each wait, e.g. to log "retrying in 2.0 s". */
  onRetry?: (info: { tries: number; delayMs: number; reason: string }) => void;
}

const MAX_DELAY_MS = 30_000;
const MAX_RETRY_AFTER_MS = 120_000;

/** Runs `attempt` until it succeeds or fails for good; `what` opens the final error ("GET <url>"). */
export async function withRetries<T>(
  what: string,
  options: RetryOptions,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      options.signal?.throwIfAborted();
      if (!(error instanceof RetryableError)) throw error;
      if (tries > options.retries) {
        throw new StageError(
          `${what} failed after ${tries} ${tries === 1 ? 'try' : 'tries'}: ${error.reason}`,
          {
            hint: 'the server or the network kept failing; try again later, or raise retries: / timeout_seconds:',
            cause: error,
          },
        );
      }
      const backoff = Math.min(options.baseMs * 2 ** (tries - 1), MAX_DELAY_MS) * (0.5 + Math.random() / 2);
      const delayMs = Math.max(backoff, Math.min(error.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      options.onRetry?.({ tries, delayMs, reason: error.reason });
      await sleep(delayMs, undefined, { signal: options.signal });
    }
  }
}
