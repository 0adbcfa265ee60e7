// Peak resident memory of a subprocess (worker threads included, as they share its process): GNU
// `/usr/bin/time -f %M` where it exists, else polling VmHWM in /proc/<pid>/status, else nothing.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from './timing.ts';

export interface PeakRssRun {
  stdout: string;
  wallMs: number;
  /** Peak RSS in KiB; null where neither method works (not Linux). */
  peakKiB: number | null;
  method: '/usr/bin/time -f %M' | '/proc/<pid>/status VmHWM' | null;
}

const GNU_TIME = '/usr/bin/time';
const POLL_MS = 20;

/** Runs the command once, keeping its stdout, and measures its peak RSS; throws if it fails. */
export async function runWithPeakRss(command: Command): Promise<PeakRssRun> {
  if (process.platform === 'linux' && isExecutable(GNU_TIME)) {
    const dir = mkdtempSync(join(tmpdir(), 'gpt2o-pipe-bench-rss-'));
    try {
      const out = join(dir, 'rss.txt');
      const timed = {
        ...command,
        file: GNU_TIME,
        args: ['-f', '%M', '-o', out, command.file, ...command.args],
      };
      const { stdout, wallMs } = await spawnPolling(timed, () => undefined);
      const peakKiB = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
      if (Number.isFinite(peakKiB) && peakKiB > 0) {
        return { stdout, wallMs, peakKiB, method: '/usr/bin/time -f %M' };
      }
      // not GNU time after all (e.g. busybox without -o): fall through to polling
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  let peakKiB: number | null = null;
  const { stdout, wallMs } = await spawnPolling(command, (pid) => {
    const hwm = vmHwmKiB(pid);
    if (hwm !== null) peakKiB = Math.max(peakKiB ?? 0, hwm);
  });
  return { stdout, wallMs, peakKiB, method: peakKiB === null ? null : '/proc/<pid>/status VmHWM' };
}

/** Spawns the command, calls `poll(pid)` every POLL_MS until it exits, and resolves with its stdout. */
function spawnPolling(
  command: Command,
  poll: (pid: number) => void,
): Promise<{ stdout: string; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command.file, command.args, { cwd: command.cwd, env: command.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setInterval(() => child.pid !== undefined && poll(child.pid), POLL_MS);
    child.on('error', (error) => {
      clearInterval(timer);
      reject(new Error(`${command.label}: could not start (${error.message})`));
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      const wallMs = performance.now() - start;
      if (code === 0) return resolve({ stdout: Buffer.concat(stdout).toString('utf8'), wallMs });
      const tail = Buffer.concat(stderr).toString('utf8').trim().split('\n').slice(-20).join('\n');
      reject(
        new Error(
          `${command.label}: exited with ${code ?? signal} in ${command.cwd}\n` +
            `  $ ${command.file} ${command.args.join(' ')}\n${tail}`,
        ),
      );
    });
  });
}

function vmHwmKiB(pid: number): number | null {
  try {
    const match = /^VmHWM:\s*(\d+)\s*kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null; // exited between polls, or no /proc
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
