// Worker threads for the stages that spread work over cores (audio conversion, training). One owner
// for the two things every pool needs: starting a worker from source or from the bundle, and
// hearing every way a worker can go away. A worker that ends without an 'error' event (a
// `process.exit` in it, a native crash) only emits 'exit'; a pool listening for messages and errors
// alone would wait for it forever.
import { Worker } from 'node:worker_threads';
import { StageError } from '../../src/stage-api/index.ts';

/**
 * Starts the worker `name` that lives beside `moduleUrl` (the caller's import.meta.url). Bundled, it
 * is dist/<name>.js beside the caller's chunk. From source (the tests run under tsx), the .ts worker
 * needs tsx's loader, which workers do not inherit: register it first.
 */
export function startWorker(moduleUrl: string, name: string): Worker {
  if (!moduleUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, moduleUrl));
  const url = JSON.stringify(new URL(`./${name}.ts`, moduleUrl).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); })`, {
    eval: true,
  });
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
