// A fixed pool of worker threads converting files in parallel (one per core by default). Files are
// handed out as workers free up, so one long chapter never holds up the rest.
import { Worker } from 'node:worker_threads';
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

/**
 * Bundled, the worker is dist/resample-worker.js beside this chunk. From source (the tests run
 * under tsx), the .ts worker needs tsx's loader, which workers do not inherit: register it first.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./resample-worker.js', import.meta.url));
  const url = JSON.stringify(new URL('./resample-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); })`, {
    eval: true,
  });
}

export async function convertAll(
  jobs: ConvertJob[],
  options: { workers: number; signal: AbortSignal; onProgress: (index: number, seconds: number) => void },
): Promise<PromiseSettledResult<ConvertResult>[]> {
  const results: PromiseSettledResult<ConvertResult>[] = new Array(jobs.length);
  let next = 0;
  const pool = Array.from({ length: Math.max(1, Math.min(options.workers, jobs.length)) }, () =>
    startWorker(),
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
    const onMessage = (message: WorkerReply) => {
      if (message.id !== id) return;
      if ('progress' in message) return onProgress(id, message.progress);
      cleanup();
      if ('result' in message) resolve(message.result);
      else reject(new ConvertFailure(message.error.message, message.error.decode));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new ConvertFailure(error.stack ?? error.message, false));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new ConvertFailure(`the worker converting ${job.input} exited (code ${code})`, false));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage({ id, job });
  });
}
