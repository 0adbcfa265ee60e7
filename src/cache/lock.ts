// One process computes a stage key at a time. The lock is a folder (mkdir is atomic, also on NFS)
// holding owner.json; a lock whose owner process is gone is taken over. Breaking a stale lock is
// itself guarded by a second mkdir, so two waiters cannot both break it and both win. Whether an
// owner is gone is liveness.ts's rule: by pid on this host, by the age of owner.json (which the
// holder touches every minute) on another.

import { readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeNewFile } from '../util/write-new-file.ts';
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
  await writeNewFile(join(path, 'owner.json'), JSON.stringify(owner));
  const stopHeartbeat = startHeartbeat(join(path, 'owner.json'));
  return {
    async release() {
      stopHeartbeat();
      await removeLockFolder(path);
    },
  };
}

/**
 * Removes a released lock: its owner.json, then the folder (two quick calls, made in place, where a
 * recursive removal took six round trips through the thread pool). Anything else found in it (it
 * should hold nothing else) is removed with it.
 */
async function removeLockFolder(path: string): Promise<void> {
  try {
    unlinkSync(join(path, 'owner.json'));
  } catch {
    // not written (its maker died), or the lock was broken meanwhile
  }
  try {
    rmdirSync(path);
  } catch {
    await rm(path, { recursive: true, force: true });
  }
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
  return parseOwner(await readFile(join(path, 'owner.json'), 'utf8').catch(() => undefined));
}

/** An owner.json's content as an owner; undefined when missing or not one (then only age tells). */
function parseOwner(text: string | undefined): Owner | undefined {
  try {
    const owner = JSON.parse(text ?? '');
    return typeof owner?.pid === 'number' && typeof owner?.host === 'string' ? (owner as Owner) : undefined;
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
  const touched = owner
    ? await stat(join(path, 'owner.json')).then(
        (s) => s.mtimeMs,
        () => 0,
      )
    : await stat(path).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
  return isHeld(owner, touched);
}

/** lockIsHeld for a caller that walks many locks synchronously (gc, under the maintenance lock). */
export function lockIsHeldSync(path: string): boolean {
  let text: string | undefined;
  try {
    text = readFileSync(join(path, 'owner.json'), 'utf8');
  } catch {
    text = undefined;
  }
  const owner = parseOwner(text);
  const touched = owner
    ? (statSync(join(path, 'owner.json'), { throwIfNoEntry: false })?.mtimeMs ?? 0)
    : statSync(path, { throwIfNoEntry: false })?.mtimeMs;
  return isHeld(owner, touched);
}

/** The rule both readers apply: an owner is alive as liveness.ts says; no owner yet, while young. */
function isHeld(owner: Owner | undefined, touchedMs: number | undefined): boolean {
  if (touchedMs === undefined) return false;
  return owner ? holderIsAlive(owner, touchedMs) : unownedIsAlive(Date.now() - touchedMs);
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
