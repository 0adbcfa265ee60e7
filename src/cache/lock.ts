// One process computes a stage key at a time. The lock is a folder (mkdir is atomic, also on NFS)
// holding owner.json; a lock whose owner process is gone is taken over. Breaking a stale lock is
// itself guarded by a second mkdir, so two waiters cannot both break it and both win. Whether an
// owner is gone is liveness.ts's rule: by pid on this host, by the age of owner.json (which the
// holder touches every minute) on another.

import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ageMsAsync, HOST, holderIsAlive, startHeartbeat, unownedIsAlive } from './liveness.ts';

interface Owner {
  pid: number;
  host: string;
  token: string;
  since: string;
}

export interface LockHandle {
  release(): Promise<void>;
}

export interface LockWaitInfo {
  owner?: Owner;
}

/** A breaker that died mid-break leaves its guard behind; after this long another waiter may retry. */
const BREAK_GUARD_STALE_MS = 10_000;

/** Tries once; undefined when another live process holds it. */
export async function tryLock(path: string): Promise<LockHandle | undefined> {
  const token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await mkdir(path, { recursive: false });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      await mkdir(join(path, '..'), { recursive: true });
      return tryLock(path);
    }
    if (code !== 'EEXIST') throw error;
    if (await breakIfStale(path)) return tryLock(path);
    return undefined;
  }
  const owner: Owner = { pid: process.pid, host: HOST, token, since: new Date().toISOString() };
  await writeFile(join(path, 'owner.json'), JSON.stringify(owner));
  const stopHeartbeat = startHeartbeat(join(path, 'owner.json'));
  return {
    async release() {
      stopHeartbeat();
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** Waits for the lock, polling with backoff; `onWait` is told once who holds it. */
export async function acquireLock(
  path: string,
  options: { signal?: AbortSignal; onWait?: (info: LockWaitInfo) => void } = {},
): Promise<LockHandle> {
  let delay = 20;
  let told = false;
  for (;;) {
    const handle = await tryLock(path);
    if (handle) return handle;
    if (!told) {
      options.onWait?.({ owner: await readOwner(path) });
      told = true;
    }
    options.signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 500);
  }
}

export async function readOwner(path: string): Promise<Owner | undefined> {
  try {
    return JSON.parse(await readFile(join(path, 'owner.json'), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock at `path` is held by a live process. A lock whose owner.json is not written yet
 * (or never will be: its creator died between the two steps) counts as held for a short while.
 */
export async function lockIsHeld(path: string): Promise<boolean> {
  const owner = await readOwner(path);
  if (!owner) {
    const age = await ageMsAsync(path);
    return age !== undefined && unownedIsAlive(age);
  }
  const touched = await stat(join(path, 'owner.json')).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  return holderIsAlive(owner, touched);
}

async function breakIfStale(path: string): Promise<boolean> {
  const owner = await readOwner(path);
  if (await lockIsHeld(path)) return false;

  const guard = `${path}.breaking`;
  try {
    await mkdir(guard);
  } catch {
    const age = (await ageMsAsync(guard)) ?? 0;
    if (age > BREAK_GUARD_STALE_MS) await rm(guard, { recursive: true, force: true });
    return false;
  }
  try {
    // Re-check under the guard: the lock may have been released and re-taken meanwhile.
    const again = await readOwner(path);
    if (again?.token !== owner?.token) return false;
    const doomed = `${path}.stale-${process.pid}-${Date.now()}`;
    await rename(path, doomed).catch(() => undefined);
    await rm(doomed, { recursive: true, force: true });
    return true;
  } finally {
    await rm(guard, { recursive: true, force: true });
  }
}
