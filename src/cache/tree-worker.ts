// The tree thread (tree-thread.ts is its only user): takes chunks of a job in turn with the main
// thread and marks each entry done in the shared results. It decides nothing: an entry it cannot
// do as expected (an object that exists already, a call that fails) is left to the main thread,
// which has the store's rules and says what went wrong.
import { linkSync, mkdirSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { hashFile } from './hash.ts';
import { CacheLayout } from './layout.ts';
import {
  ADOPT_RESULT,
  ADOPTED,
  type JobDone,
  LEFT,
  lstatInto,
  NEXT,
  NOT_TAKEN,
  type PostedJob,
  STATE,
  TAKEN,
  type ThreadReady,
} from './tree-thread.ts';

const port = parentPort;
if (!port) throw new Error('internal: tree-worker.ts runs only as a worker thread');

// Jobs one after another: a job posted while one runs waits in the queue (by then the main thread
// has usually done it and closed it).
let queue = Promise.resolve();
port.on('message', (job: PostedJob) => {
  // An entry this thread failed on is not marked done: the main thread does it again.
  queue = queue
    .then(() => run(job))
    .catch(() => undefined)
    .finally(() => port.postMessage({ done: job.id } satisfies JobDone));
});
port.postMessage({ ready: true } satisfies ThreadReady);

async function run(job: PostedJob): Promise<void> {
  if (Atomics.compareExchange(job.control, STATE, NOT_TAKEN, TAKEN) !== NOT_TAKEN) return;
  const chunk = job.kind === 'lstat' ? statChunk(job) : await adoptChunk(job);
  for (;;) {
    const from = Atomics.add(job.control, NEXT, job.chunk);
    if (from >= job.count) return;
    await chunk(from, Math.min(job.count, from + job.chunk));
  }
}

function statChunk(job: Extract<PostedJob, { kind: 'lstat' }>) {
  const names = job.names.split('\0');
  const { stats, folders, folderOf } = job;
  return (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      try {
        lstatInto(stats, i, `${folders[folderOf[i]!]}/${names[i]}`);
      } catch {
        // left to the main thread, which says why
      }
    }
  };
}

async function adoptChunk(job: Extract<PostedJob, { kind: 'adopt' }>) {
  const names = job.names.split('\0');
  const { folders, folderOf } = job;
  const layout = new CacheLayout(job.cache);
  const made = new Set<string>();
  const { sizes, exec, results } = job;
  return async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const at = i * ADOPT_RESULT;
      const path = `${folders[folderOf[i]!]}/${names[i]}`;
      try {
        const digest = await hashFile(path, sizes[i]!, exec[i] ? 0o555 : 0o444);
        const object = layout.object(digest);
        const folder = object.slice(0, object.lastIndexOf('/'));
        if (!made.has(folder)) {
          mkdirSync(folder, { recursive: true });
          made.add(folder);
        }
        results.set(Buffer.from(digest, 'hex'), at + 1);
        linkSync(path, object);
        results[at] = ADOPTED;
      } catch {
        results[at] = LEFT;
      }
    }
  };
}
