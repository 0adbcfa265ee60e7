// Runs one shell command in its own process group, streaming its output to the stage log.
// It is done when the shell has exited and its group is gone: a process that left the group
// (`setsid daemon &`) may hold the output pipes open for hours, and is not waited for.
import type { ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { EXIT_INTERRUPTED, EXIT_STAGE_FAILED, type Loc, PipeError } from '../errors.ts';
import type { StageLog } from './stage-log.ts';

export interface ShellRun {
  stage: string;
  loc?: Loc;
  cmd: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: StageLog;
  signal: AbortSignal;
  /** A path outside `cwd` where a long command is written to be run as a script. */
  scriptPath: string;
}

/**
 * Above this many bytes a command goes to `sh` as a script file: Linux limits one argument to
 * 128 KiB (MAX_ARG_STRLEN), and `sh -c` keeps $0 and error messages as users know them below it.
 */
const INLINE_MAX_BYTES = 100_000;
/** After the group is gone, how long buffered output may take to arrive. */
const DRAIN_MS = 500;
/** SIGTERM first; SIGKILL this long after if the group is still there. */
const KILL_GRACE_MS = 3000;

/** Resolves when the command succeeded; rejects with a PipeError naming the stage otherwise. */
export async function runShell(run: ShellRun): Promise<void> {
  const bytes = Buffer.byteLength(run.cmd);
  const args = bytes > INLINE_MAX_BYTES ? [run.scriptPath] : ['-c', run.cmd];
  if (bytes > INLINE_MAX_BYTES) await writeFile(run.scriptPath, run.cmd);
  try {
    await runProcess(run, args, bytes);
  } finally {
    if (bytes > INLINE_MAX_BYTES) await rm(run.scriptPath, { force: true });
  }
}

async function runProcess(run: ShellRun, args: string[], bytes: number): Promise<void> {
  const { stage, log, signal } = run;
  // Own process group (detached), so cancellation reaches everything the shell started.
  // Loaded here, not at start-up: a fully cached run starts no process (a builtin costs ~2 ms to load).
  const { spawn } = await import('node:child_process');
  let child: ChildProcess;
  try {
    child = spawn('sh', args, {
      cwd: run.cwd,
      env: run.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  } catch (error) {
    // E2BIG is thrown here, not emitted.
    throw spawnError(run, error as NodeJS.ErrnoException, bytes);
  }
  const streams = [child.stdout, child.stderr].filter((s): s is Readable => s !== null);
  for (const stream of streams) pipeToLog(stream, log);
  const kill = () => killGroup(child.pid);
  signal.addEventListener('abort', kill, { once: true });
  // Ctrl-C while the inputs were being linked: 'abort' has fired already and never fires again.
  if (signal.aborted) kill();
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, sig) => resolve({ code, signal: sig }));
    });
  } catch (error) {
    signal.removeEventListener('abort', kill);
    throw spawnError(run, error as NodeJS.ErrnoException, bytes);
  }
  const held = await drainWhileGroupLives(child.pid, streams);
  signal.removeEventListener('abort', kill);
  if (held) {
    log.line(
      'note: a process the command started outside its group still holds its output; not waiting for it',
    );
  }
  if (signal.aborted) {
    throw new PipeError(`stage "${stage}" was interrupted`, {
      code: 'E_INTERRUPTED',
      stage,
      exitCode: EXIT_INTERRUPTED,
    });
  }
  if (exit.code !== 0) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    throw new PipeError(`stage "${stage}": command ${how}`, {
      code: 'E_STAGE_COMMAND',
      stage,
      loc: run.loc,
      exitCode: EXIT_STAGE_FAILED,
    });
  }
}

/** Copies a stream of the command's output into the stage log, text decoded across chunk edges. */
function pipeToLog(stream: Readable, log: ShellRun['log']): void {
  const decoder = new StringDecoder('utf8');
  stream.on('data', (chunk: Buffer) => log.write(decoder.write(chunk), chunk));
  stream.on('end', () => {
    const rest = decoder.end();
    if (rest) log.write(rest, Buffer.alloc(0));
  });
}

/**
 * Waits for the output pipes to close while any process of the command's group lives (a plain
 * `cmd &` stays in the group and is waited for, as a shell would). Once the group is gone, pipes
 * still open after DRAIN_MS belong to a process that left it: stop reading. True in that case.
 */
async function drainWhileGroupLives(pid: number | undefined, streams: Readable[]): Promise<boolean> {
  const open = new Set(streams.filter((s) => !s.readableEnded && !s.destroyed));
  for (const stream of open) stream.once('close', () => open.delete(stream));
  let goneSince: number | undefined;
  while (open.size > 0) {
    if (!groupAlive(pid)) {
      goneSince ??= Date.now();
      if (Date.now() - goneSince >= DRAIN_MS) {
        for (const stream of open) stream.destroy();
        return true;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function groupAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  send('SIGTERM');
  setTimeout(() => send('SIGKILL'), KILL_GRACE_MS).unref();
}

function spawnError(run: ShellRun, error: NodeJS.ErrnoException, bytes: number): Error {
  if (error.code === 'E2BIG') {
    return new PipeError(
      `stage "${run.stage}": the command could not start: argument list too long (the command is ${bytes} bytes; it and its environment exceed the system's limit)`,
      {
        code: 'E_STAGE_COMMAND_TOO_LONG',
        stage: run.stage,
        loc: run.loc,
        hint: 'put long text in a file the command reads (a dep), or pass fewer or shorter params',
        exitCode: EXIT_STAGE_FAILED,
        cause: error,
      },
    );
  }
  if (error.code === 'ENOENT')
    return new PipeError(`stage "${run.stage}": cannot start "sh" (it is not on this machine)`, {
      code: 'E_STAGE_COMMAND',
      stage: run.stage,
      loc: run.loc,
      hint: 'cmd: stages run through /bin/sh; install a POSIX shell',
      exitCode: EXIT_STAGE_FAILED,
      cause: error,
    });
  return error;
}
