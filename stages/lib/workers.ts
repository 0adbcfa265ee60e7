// Worker threads for the stages that spread work over cores (audio conversion, training): starting
// one (where its code is, bundled or from source, is src/util/worker-source.ts's rule, shared
// with the engine's command threads), and hearing every way a worker can go away. A worker that
// ends without an 'error' event (a `process.exit` in it, a native crash) only emits 'exit'; a pool
// listening for messages and errors alone would wait for it forever.
import { Worker } from 'node:worker_threads';
import { StageError, workerSource } from '../../src/stage-api/index.ts';

/** Starts the worker `name` that lives beside `moduleUrl` (the caller's import.meta.url). */
export function startWorker(moduleUrl: string, name: string): Worker {
  return new Worker(...workerSource(moduleUrl, name));
}

/** A worker thread that ended while it still owed an answer. */
export class WorkerExited extends StageError {
  constructor(
    readonly exitCode: number,
    what: string,
  ) {
    super(`the worker thread ${what} exited with code ${exitCode} before it answered`, {
      hint: 'a worker ends like this when it crashes or runs out of memory; GPT2O_WORKERS=1 does the work without worker threads',
    });
  }
}

/**
 * Listens to a worker until the returned function is called: each message goes to `onMessage`; an
 * 'error' event, or an 'exit' (as WorkerExited), goes to `onFailure`. Exactly one of the failure
 * events is reported.
 */
export function listen<Reply>(
  worker: Worker,
  what: string,
  onMessage: (reply: Reply) => void,
  onFailure: (error: Error) => void,
): () => void {
  const onError = (error: Error) => {
    stop();
    onFailure(error);
  };
  const onExit = (code: number) => {
    stop();
    onFailure(new WorkerExited(code, what));
  };
  const stop = () => {
    worker.off('message', onMessage);
    worker.off('error', onError);
    worker.off('exit', onExit);
  };
  worker.on('message', onMessage);
  worker.on('error', onError);
  worker.on('exit', onExit);
  return stop;
}
