// Where a worker's code is, for `new Worker(...)` or a Node child process: one rule for the
// engine's command processes and the stages' pools. Pure functions, so that a fully cached run,
// which starts no worker, never loads node:worker_threads.
import { fileURLToPath } from 'node:url';
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

/**
 * Node's arguments that run the worker `name` living beside `moduleUrl` as a process of its own
 * (the same file as workerSource's). From source, tsx's loader is registered first, as above.
 */
export function workerProcessArgs(moduleUrl: string, name: string): string[] {
  if (!moduleUrl.endsWith('.ts')) return [fileURLToPath(new URL(`./${name}.js`, moduleUrl))];
  const url = JSON.stringify(new URL(`./${name}.ts`, moduleUrl).href);
  return [
    '--input-type=module',
    '-e',
    `const tsx = await import('tsx/esm/api'); tsx.register(); await import(${url});`,
  ];
}
