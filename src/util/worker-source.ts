// Where a worker thread's code is, for `new Worker(...)`: one rule for the engine's command
// threads and the stages' pools. A pure function, so that a fully cached run, which starts no
// thread, never loads node:worker_threads.
import type { WorkerOptions } from 'node:worker_threads';

/**
 * The arguments that start the worker `name` living beside `moduleUrl` (the caller's
 * import.meta.url). Bundled, it is dist/<name>.js beside the bundle. From source (the tests run
 * under tsx), the .ts worker needs tsx's loader, which worker threads do not inherit: it is
 * registered first.
 */
export function workerSource(moduleUrl: string, name: string): [URL | string, WorkerOptions?] {
  if (!moduleUrl.endsWith('.ts')) return [new URL(`./${name}.js`, moduleUrl)];
  const url = JSON.stringify(new URL(`./${name}.ts`, moduleUrl).href);
  return [`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); })`, { eval: true }];
}
