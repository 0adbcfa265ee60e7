// A second thread for the per-file work on a big tree: the lstat of each file when a sealed tree
// folder is checked (tree-seal.ts), and the hashing and linking of each file when a stage's output
// is stored (tree-snapshot.ts). That work is system calls, one or a few per file, and on 100,000
// files it was most of a cached run and of the storing: split between two threads it takes about
// half the wall time on two cores.
//
// The two threads share one list and take chunks of it in turn (an atomic counter), so the main
// thread never waits for the other to start: on a small job, or while the thread is still loading,
// the main thread simply does everything. What the thread finished is marked in the shared results;
// whatever it did not (it failed, or died) the main thread does itself, so the thread can make a
// job faster but never make it fail.
import { lstatSync, type Stats } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { workerSource } from '../util/worker-source.ts';
import { yieldToEventLoop } from '../util/yield.ts';

/** A job for the tree thread (tree-worker.ts runs it). */
export type TreeJob =
  | {
      kind: 'lstat';
      /** Folders (absolute) and, per entry, its folder's index and its name. */
      folders: string[];
      folderOf: Int32Array;
      /** The entries' names, joined by NUL (one string crosses threads much faster than an array). */
      names: string;
      /** Per entry, STAT_FIELDS numbers (see tree-seal.ts); field 0 is set last, non-zero when done. */
      stats: Float64Array;
    }
  | {
      kind: 'adopt';
      /** The cache folder (objects go where CacheLayout says). */
      cache: string;
      /** Folders (absolute) and, per file, its folder's index and its name (names joined by NUL). */
      folders: string[];
      folderOf: Int32Array;
      names: string;
      sizes: Float64Array;
      /** Per file: 1 when it is executable. */
      exec: Uint8Array;
      /** Per file, ADOPT_RESULT bytes: a status (ADOPTED when done) and the digest's 16 bytes. */
      results: Uint8Array;
    };

/** A job as posted: the chunk counter and the job's start flag travel with it. */
export type PostedJob = TreeJob & { control: Int32Array; count: number; chunk: number; id: number };

/** Fields of `control`: the next unclaimed entry, and whether the thread took the job. */
export const NEXT = 0;
export const STATE = 1;
export const NOT_TAKEN = 0;
export const TAKEN = 1;
export const CLOSED = 2;

/** An lstat job's numbers per entry: kind (0 until done), size, mtimeMs, ctimeMs, ino, mode, nlink. */
export const STAT_FIELDS = 7;
/** Kinds of entry an lstat job reports. */
export const FILE = 1;
export const DIR = 2;
export const LINK = 3;
export const OTHER = 4;
/** Removed between the listing and its lstat. */
export const GONE = 5;
/** Its lstat failed otherwise (permission denied...): the caller looks again, and says why. */
export const FAILED = 6;

/**
 * The lstat of `path` as entry `i` of an lstat job's numbers (the kind last: it marks the entry
 * done); returns the Stats, or undefined when the entry is gone (then its kind is GONE). Other
 * errors are thrown (on the tree thread, the entry is left to the main thread, which says why).
 */
export function lstatInto(stats: Float64Array, i: number, path: string): Stats | undefined {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  const at = i * STAT_FIELDS;
  if (!stat) {
    stats[at] = GONE;
    return undefined;
  }
  stats[at + 1] = stat.size;
  stats[at + 2] = stat.mtimeMs;
  stats[at + 3] = stat.ctimeMs;
  stats[at + 4] = stat.ino;
  stats[at + 5] = stat.mode;
  stats[at + 6] = stat.nlink;
  stats[at] = stat.isFile() ? FILE : stat.isSymbolicLink() ? LINK : stat.isDirectory() ? DIR : OTHER;
  return stat;
}

/**
 * The lstat of each entry (`names[i]` in `folders[folderOf[i]]`), shared with the tree thread:
 * STAT_FIELDS numbers per entry; one whose lstat failed is GONE or FAILED.
 */
export async function lstatShared(
  folders: string[],
  folderOf: Int32Array,
  names: readonly string[],
): Promise<Float64Array> {
  const stats = new Float64Array(new SharedArrayBuffer(Math.max(1, names.length) * STAT_FIELDS * 8));
  const job = {
    kind: 'lstat' as const,
    folders,
    folderOf,
    names: names.length >= SHARE_MIN ? names.join('\0') : '',
    stats,
  };
  await shareWork(
    job,
    names.length,
    (from, to) => {
      for (let i = from; i < to; i++) {
        try {
          lstatInto(stats, i, `${folders[folderOf[i]!]}/${names[i]}`);
        } catch {
          stats[i * STAT_FIELDS] = FAILED;
        }
      }
    },
    (i) => stats[i * STAT_FIELDS] !== 0,
  );
  return stats;
}

/** An adopt job's bytes per file: its status (0 until done), then its digest's 16 bytes. */
export const ADOPT_RESULT = 17;
/** Hashed, made read-only and linked into objects/ by the thread. */
export const ADOPTED = 1;
/** Adopted by the main thread (adoptInPlace). */
export const ADOPTED_HERE = 2;
/** Left to the main thread: the object exists already, or a call failed (the main thread says why). */
export const LEFT = 3;

/** The thread's first message: its code is loaded. */
export interface ThreadReady {
  ready: true;
}

/** The thread's report for each job it was sent (taken or found closed), once it has no chunk left. */
export interface JobDone {
  done: number;
}

/** Fewer entries than this are done on the main thread alone: the thread's start costs more. */
export const SHARE_MIN = 2048;
/** Entries claimed at a time: big enough that the counter is rarely touched. */
const CHUNK = 256;

let thread: Promise<Worker | undefined> | undefined;
let jobs = 0;
/** Jobs posted whose JobDone has not come, by id: what resolves each. */
const waiting = new Map<number, () => void>();
/** Jobs of this process now running on the main thread's side (and waits for the thread to load). */
let running = 0;

/**
 * Does `work(from, to)` for every entry of `count`, on this thread and the tree thread together;
 * `work` marks what it did in the job's results as the thread does, and `isDone(i)` reads that mark.
 * Resolves when every entry is done. `work` may be async (it is awaited, chunk by chunk).
 */
export async function shareWork(
  job: TreeJob,
  count: number,
  work: (from: number, to: number) => void | Promise<void>,
  isDone: (index: number) => boolean,
): Promise<void> {
  const worker = count >= SHARE_MIN ? await treeThread() : undefined;
  if (!worker) {
    for (let from = 0; from < count; from += CHUNK) {
      await work(from, Math.min(count, from + CHUNK));
      if ((from / CHUNK) % 8 === 7) await yieldToEventLoop();
    }
    return;
  }
  const control = new Int32Array(new SharedArrayBuffer(8));
  const id = jobs++;
  const finished = new Promise<void>((resolve) => waiting.set(id, resolve));
  worker.postMessage({ ...job, control, count, chunk: CHUNK, id } satisfies PostedJob);
  // The thread is referenced while a job of this process runs, so the process waits for it.
  if (running++ === 0) worker.ref();
  try {
    let chunks = 0;
    for (;;) {
      const from = Atomics.add(control, NEXT, CHUNK);
      if (from >= count) break;
      await work(from, Math.min(count, from + CHUNK));
      // The other stages of a run (their logs, their exits) are not held up for long.
      if (++chunks % 8 === 0) await yieldToEventLoop();
    }
    // Not taken yet (still starting, or busy with an earlier job): it will find the job closed.
    if (Atomics.compareExchange(control, STATE, NOT_TAKEN, CLOSED) !== NOT_TAKEN) await finished;
  } finally {
    if (--running === 0) worker.unref();
  }
  // What the thread claimed but did not finish (it failed on it, or died), done here.
  for (let i = 0; i < count; i++) if (!isDone(i)) await work(i, i + 1);
}

/**
 * Starts the tree thread now, for a job that will be big (it loads while the main thread lists the
 * folder: about as long).
 */
export function warmTreeThread(): void {
  void treeThread();
}

/** The process's tree thread, started on first use; undefined when it cannot start. */
function treeThread(): Promise<Worker | undefined> {
  thread ??= startThread();
  return thread;
}

let ready: Promise<boolean> | undefined;

/**
 * Resolves once the tree thread has loaded its code (true), or cannot start (false). A job never
 * waits for this; tests do, so that the thread takes part in the jobs they check.
 */
export async function treeThreadReady(): Promise<boolean> {
  const worker = await treeThread();
  if (!worker) return false;
  // Referenced while waiting, as during a job: an idle thread keeps no process alive.
  if (running++ === 0) worker.ref();
  try {
    return (await ready) ?? false;
  } finally {
    if (--running === 0) worker.unref();
  }
}

async function startThread(): Promise<Worker | undefined> {
  try {
    // Loaded here, not at start-up: a run with no big tree starts no thread.
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(...workerSource(import.meta.url, 'tree-worker'));
    ready = new Promise((resolve) => {
      worker.once('message', () => resolve(true));
      worker.once('exit', () => resolve(false));
    });
    worker.on('message', (message: JobDone | ThreadReady) => {
      if (!('done' in message)) return;
      waiting.get(message.done)?.();
      waiting.delete(message.done);
    });
    // A thread that fails is not used again; its error needs a listener, or it is thrown here.
    // What it was doing, the main thread does (shareWork).
    worker.on('error', () => undefined);
    worker.once('exit', () => {
      thread = Promise.resolve(undefined);
      for (const resolve of waiting.values()) resolve();
      waiting.clear();
    });
    // NOTE: after the listeners: adding a 'message' listener refs the thread's port again. Only a
    // running job refs it (shareWork); an idle thread never keeps the process alive.
    worker.unref();
    return worker;
  } catch {
    return undefined;
  }
}
