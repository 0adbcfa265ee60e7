// `gc` and `verify --repair` delete; `run` adds and references. They exclude each other for the
// whole of a gc, not just at its start:
//
//   gc / verify --repair                        run
//   1. take locks/maintenance.lock (mkdir)      1. write its marker locks/active/<pid>@<host>
//   2. any live run marker? release, refuse     2. maintenance lock held? remove the marker, wait
//   3. collect, then release the lock              until it is released, start over at 1
//
// Each side writes its own mark before it reads the other's. So whichever reads second sees the
// first one's mark: a run never proceeds while a gc that has passed step 2 is working, and a gc
// never works while a run that has passed step 2 is alive. (Both may see each other: the gc
// refuses and the run waits until the lock is gone, then goes on.) Liveness of a mark left by a
// killed process is liveness.ts's rule; a dead one blocks nobody.
import { EXIT_INTERRUPTED, PipeError } from '../errors.ts';
import { describeRuns, liveRuns, writeActiveMarker } from './active-runs.ts';
import { cacheAccessError } from './cache-folder.ts';
import { lockIsHeldSync, readOwner, tryLock } from './lock.ts';
import type { CacheStore } from './store.ts';

function maintenanceLock(store: CacheStore): string {
  return store.layout.maintenanceLock;
}

/**
 * Runs `work` while holding the cache for `command` (gc, verify --repair): no run can start
 * meanwhile. Refuses with `busyCode` while a run is alive.
 */
export async function withMaintenance<T>(
  store: CacheStore,
  command: { name: string; busyCode: string },
  work: () => Promise<T>,
): Promise<T> {
  store.assertWritable();
  const path = maintenanceLock(store);
  let lock: Awaited<ReturnType<typeof tryLock>>;
  try {
    lock = await tryLock(path);
  } catch (error) {
    throw cacheAccessError(path, error);
  }
  if (!lock) {
    const owner = await readOwner(path);
    throw new PipeError(
      `${command.name}: the cache ${store.root} is being maintained by another gc or verify --repair${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''}`,
      {
        code: 'E_CACHE_BUSY',
        hint: `run it again when that one has finished; if its host crashed, remove ${path}`,
      },
    );
  }
  try {
    const busy = liveRuns(store);
    if (busy.length > 0) {
      throw new PipeError(`the cache is in use by a running \`gpt2o-pipe run\` (${describeRuns(busy)})`, {
        code: command.busyCode,
        hint: `run ${command.name} again when it has finished (a marker left by a crashed host expires after 30 minutes without a heartbeat, or remove it: ${busy[0]!.path})`,
      });
    }
    return await work();
  } catch (error) {
    // A file it cannot remove (a shared cache with another owner's files): name it, not a stack.
    const errno = error as NodeJS.ErrnoException;
    if (!(error instanceof PipeError) && errno?.code && errno.syscall)
      throw cacheAccessError(errno.path ?? store.root, error);
    throw error;
  } finally {
    await lock.release();
  }
}

/**
 * Registers this run in the cache, waiting while a gc or verify --repair holds it; `onWait` is told
 * once. Returns the function that unregisters it.
 */
export async function enterRun(
  store: CacheStore,
  options: { signal?: AbortSignal; onWait?: (holder: string) => void } = {},
): Promise<() => void> {
  const path = maintenanceLock(store);
  let told = false;
  let delay = 50;
  for (;;) {
    const marker = writeActiveMarker(store);
    // Synchronous: two small file checks every run makes; the thread pool's round trips cost more.
    if (!lockIsHeldSync(path)) return marker.stop;
    marker.stop();
    if (!told) {
      const owner = await readOwner(path);
      options.onWait?.(owner ? `pid ${owner.pid} on ${owner.host}` : 'another process');
      told = true;
    }
    if (options.signal?.aborted)
      throw new PipeError('interrupted while waiting for gc to finish', {
        code: 'E_INTERRUPTED',
        exitCode: EXIT_INTERRUPTED,
      });
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 1000);
  }
}
