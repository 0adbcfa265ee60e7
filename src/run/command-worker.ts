// The process that starts stage commands (command-pool.ts is its only user, and says why it is a
// process). It starts one command at a time and relays what happens to it over its IPC channel;
// the engine decides everything else (cancellation, the log, errors).
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { CommandReport, CommandRequest } from './command-pool.ts';

/** After the group is gone, how long buffered output may take to arrive. */
const DRAIN_MS = 500;
/** While the pipes stay open after the shell exited, how often to look whether its group lives. */
const GROUP_POLL_MS = 50;

const send = process.send?.bind(process);
if (!send) throw new Error('internal: command-worker.ts runs only as a child process with an IPC channel');
process.on('message', (request: CommandRequest) => start(request));
// The engine has ended (or was killed): nothing is left to read what a command reports.
process.on('disconnect', () => process.exit(0));

function report(message: CommandReport): void {
  // A channel found closed: the engine has ended, and 'disconnect' is on its way. Not an error
  // to print (on the terminal the run has just left).
  send!(message, undefined, undefined, (error) => error && process.exit(0));
}

function start(request: CommandRequest): void {
  let child: ChildProcess;
  try {
    // Own process group (detached), so cancellation reaches everything the shell started.
    child = spawn(request.file, request.args, {
      cwd: request.cwd,
      env: request.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  } catch (error) {
    // E2BIG is thrown here, not emitted.
    report(failed(error));
    return;
  }
  let ended = false;
  child.once('error', (error) => {
    // A process that could not start (ENOENT) emits 'error' and never 'exit'.
    if (ended) return;
    ended = true;
    report(failed(error));
  });
  const pid = child.pid;
  if (pid === undefined) return;
  report({ type: 'started', pid });
  const streams = [child.stdout, child.stderr].filter((s): s is Readable => s !== null);
  streams.forEach((stream, index) => {
    stream.on('data', (chunk: Buffer) => report({ type: 'output', stream: index, bytes: chunk }));
  });
  child.once('exit', (code, signal) => {
    if (ended) return;
    ended = true;
    void drainWhileGroupLives(pid, streams).then((held) => report({ type: 'done', code, signal, held }));
  });
}

function failed(error: unknown): CommandReport {
  const { code, message } = error as NodeJS.ErrnoException;
  return { type: 'failed', code, message };
}

/**
 * Waits for the output pipes to close while any process of the command's group lives (a plain
 * `cmd &` stays in the group and is waited for, as a shell would). Once the group is gone, pipes
 * still open after DRAIN_MS belong to a process that left it (`setsid daemon &`): stop reading.
 * True in that case. Pipes that close promptly are not waited on any longer than that.
 */
async function drainWhileGroupLives(pid: number, streams: Readable[]): Promise<boolean> {
  const closed = Promise.all(
    streams.map((s) => (s.closed ? undefined : new Promise((resolve) => s.once('close', resolve)))),
  ).then(() => true);
  let goneSince: number | undefined;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), GROUP_POLL_MS);
    });
    const allClosed = await Promise.race([closed, tick]);
    clearTimeout(timer);
    if (allClosed) return false;
    if (!groupAlive(pid)) {
      goneSince ??= Date.now();
      if (Date.now() - goneSince >= DRAIN_MS) {
        for (const stream of streams) stream.destroy();
        return true;
      }
    }
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
