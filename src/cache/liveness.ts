// Whether the process behind a marker (a stage lock, an active-run marker, a temp folder, the
// maintenance lock) is still alive. One rule, used by lock.ts, active-runs.ts, maintenance.ts and gc.ts.
//
// A pid means something only on the host that issued it: a Slurm team shares one cache between a
// login node and many compute nodes, and pid 4242 on node-7 says nothing about pid 4242 here. So
// every marker carries its host, and:
//   - a holder on this host is alive while its pid exists (EPERM: exists, not ours);
//   - a holder on another host is alive while its marker is fresh: holders touch their marker every
//     HEARTBEAT_MS, and one not touched for FOREIGN_STALE_MS is taken for dead (a crashed node).
//     Clearing it sooner is `rm -r` of the marker, which the messages that wait on one name.
import { stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';

/** This host, as it appears in marker names (anything but [A-Za-z0-9._-] becomes "_"). */
export const HOST = hostname().replace(/[^A-Za-z0-9._-]/g, '_') || 'localhost';

/** "<pid>@<host>": names this process in marker and temp names. */
export const OWNER_TAG = `${process.pid}@${HOST}`;

/** How often a holder refreshes its marker's mtime. */
export const HEARTBEAT_MS = 60_000;

/** A marker of another host (or of unknown host) not refreshed for this long is taken for dead. */
export const FOREIGN_STALE_MS = 30 * 60_000;

/**
 * A marker that names no owner yet (its creator is between making it and writing who it is: a lock
 * before owner.json, a Slurm claim before job.json, sbatch included) counts as alive this long.
 */
export const UNOWNED_GRACE_MS = 60_000;

/** Milliseconds since `path` was last modified (its heartbeat), or undefined when it is gone. */
export async function ageMsAsync(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => Date.now() - s.mtimeMs,
    () => undefined,
  );
}

/** Whether a marker with no recorded owner, last touched `age` ms ago, still counts as alive. */
export function unownedIsAlive(age: number): boolean {
  return age < UNOWNED_GRACE_MS;
}

export interface Holder {
  pid: number;
  /** Undefined for markers written before hosts were recorded: only their age can tell. */
  host?: string;
}

/** Parses "<pid>@<host>" at the start of a name (followed by "~…" or nothing), or a bare "<pid>". */
export function parseOwnerTag(name: string): Holder | undefined {
  const tagged = /^(\d+)@([A-Za-z0-9._-]+?)(?:~|$)/.exec(name);
  if (tagged) return { pid: Number(tagged[1]), host: tagged[2] };
  const legacy = /^(\d+)(?:-|$)/.exec(name);
  return legacy ? { pid: Number(legacy[1]) } : undefined;
}

/** True while a process with this pid exists on this host. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a holder is alive. `touchedMs` is the mtime of its marker (the heartbeat); it decides
 * for holders of other hosts, whose pids cannot be checked from here.
 */
export function holderIsAlive(holder: Holder, touchedMs: number, now = Date.now()): boolean {
  if (holder.host === HOST) return isProcessAlive(holder.pid);
  return now - touchedMs < FOREIGN_STALE_MS;
}

/** Refreshes `path`'s mtime every HEARTBEAT_MS until stopped (never keeps the process alive). */
export function startHeartbeat(path: string): () => void {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  return () => clearInterval(timer);
}
