// Marks a cache as in use by a live `run`, so `gc` never deletes what a run is about to reference.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheStore } from './store.ts';

function activeDir(store: CacheStore): string {
  return join(store.layout.dir('locks'), 'active');
}

/** Registers this process; returns the function that unregisters it. */
export function markActiveRun(store: CacheStore): () => void {
  const dir = activeDir(store);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, String(process.pid));
  writeFileSync(path, new Date().toISOString());
  return () => rmSync(path, { force: true });
}

/** Process ids of runs that are still alive (markers of dead processes are ignored). */
export function liveRuns(store: CacheStore): number[] {
  let names: string[];
  try {
    names = readdirSync(activeDir(store));
  } catch {
    return [];
  }
  return names.map(Number).filter((pid) => Number.isInteger(pid) && pid !== process.pid && isAlive(pid));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
