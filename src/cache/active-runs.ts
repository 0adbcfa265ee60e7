// Marks a cache as in use by a live `run`, so `gc` (and `verify --repair`) never delete what a run
// is about to reference. The protocol that keeps them apart is in maintenance.ts.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, type Holder, holderIsAlive, OWNER_TAG, parseOwnerTag, startHeartbeat } from './liveness.ts';
import type { CacheStore } from './store.ts';

function activeDir(store: CacheStore): string {
  return store.layout.activeRuns;
}

/** The marker of this process: locks/active/<pid>@<host>. */
export function activeMarker(store: CacheStore): string {
  return join(activeDir(store), OWNER_TAG);
}

/** Writes this process's marker (refreshed every minute until `stop`); returns its path and `stop`. */
export function writeActiveMarker(store: CacheStore): { path: string; stop: () => void } {
  mkdirSync(activeDir(store), { recursive: true });
  const path = activeMarker(store);
  writeFileSync(
    path,
    `${JSON.stringify({ pid: process.pid, host: HOST, since: new Date().toISOString() })}\n`,
  );
  const stopHeartbeat = startHeartbeat(path);
  return {
    path,
    stop: () => {
      stopHeartbeat();
      rmSync(path, { force: true });
    },
  };
}

export interface ActiveRun extends Holder {
  /** The marker's path, for messages that say how to clear a marker left by a crashed host. */
  path: string;
}

/** Runs whose markers say they are alive (liveness.ts), other than this process. */
export function liveRuns(store: CacheStore): ActiveRun[] {
  return activeRuns(store).filter((run) => run.alive);
}

/** Every marker that names a run, with whether that run is alive. */
export function activeRuns(store: CacheStore): (ActiveRun & { alive: boolean })[] {
  let names: string[];
  try {
    names = readdirSync(activeDir(store));
  } catch {
    return [];
  }
  const runs: (ActiveRun & { alive: boolean })[] = [];
  for (const name of names) {
    const holder = parseOwnerTag(name);
    if (!holder || name === OWNER_TAG) continue;
    const path = join(activeDir(store), name);
    const touched = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
    if (touched === undefined) continue; // gone meanwhile
    runs.push({ ...holder, path, alive: holderIsAlive(holder, touched) });
  }
  return runs;
}

/** "pid 12 on node-3, pid 40 on login1": for messages. */
export function describeRuns(runs: readonly Holder[]): string {
  return runs.map((r) => `pid ${r.pid} on ${r.host ?? 'an unknown host'}`).join(', ');
}
