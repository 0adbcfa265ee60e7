// A fixed pool of worker threads converting files in parallel (one per core by default). Files are
// handed out as workers free up, so one long chapter never holds up the rest.
import type { Worker } from 'node:worker_threads';
import { listen, startWorker, WorkerExited } from '../lib/workers.ts';
import type { ConvertJob, ConvertResult } from './convert.ts';
import type { WorkerReply } from './worker-protocol.ts';

/** A job failure; `decode` separates bad input (skippable) from bugs. */
export class ConvertFailure extends Error {
  constructor(
    message: string,
    readonly decode: boolean,
  ) {
    super(message);
  }
}

export async function convertAll(
  jobs: ConvertJob[],
  options: { workers: number; signal: AbortSignal; onProgress: (index: number, seconds: number) => void },
): Promise<PromiseSettledResult<ConvertResult>[]> {
  const results: PromiseSettledResult<ConvertResult>[] = new Array(jobs.length);
  let next = 0;
  const pool = Array.from({ length: Math.max(1, Math.min(options.workers, jobs.length)) }, () =>
    startWorker(import.meta.url, 'resample-worker'),
  );
  const stop = () => {
    for (const worker of pool) void worker.terminate();
  };
  options.signal.addEventListener('abort', stop, { once: true });
  try {
    await Promise.all(
      pool.map(async (worker) => {
        while (next < jobs.length && !options.signal.aborted) {
          const index = next++;
          results[index] = await runOne(worker, index, jobs[index]!, options.onProgress).then(
            (value) => ({ status: 'fulfilled', value }),
            (reason) => ({ status: 'rejected', reason }),
          );
        }
      }),
    );
  } finally {
    options.signal.removeEventListener('abort', stop);
    await Promise.all(pool.map((w) => w.terminate()));
  }
  options.signal.throwIfAborted();
  return results;
}

function runOne(
  worker: Worker,
  id: number,
  job: ConvertJob,
  onProgress: (index: number, seconds: number) => void,
): Promise<ConvertResult> {
  return new Promise((resolve, reject) => {
    const stop = listen<WorkerReply>(
      worker,
      `converting ${job.input}`,
      (message) => {
        if (message.id !== id) return;
        if ('progress' in message) return onProgress(id, message.progress);
        stop();
        if ('result' in message) resolve(message.result);
        else reject(new ConvertFailure(message.error.message, message.error.decode));
      },
      (error) =>
        reject(
          new ConvertFailure(
            error instanceof WorkerExited ? error.message : (error.stack ?? error.message),
            false,
          ),
        ),
    );
    worker.postMessage({ id, job });
  });
}
