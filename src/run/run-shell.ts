// Runs one shell command in its own process group, streaming its output to the stage log.
// It is done when the shell has exited and its group is gone: a process that left the group
// (`setsid daemon &`) may hold the output pipes open for hours, and is not waited for. The process
// is started by a command process (command-pool.ts); cancellation and the log stay here.
import { rm, writeFile } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { EXIT_INTERRUPTED, EXIT_STAGE_FAILED, type Loc, PipeError } from '../errors.ts';
import {
  type CommandEnd,
  CommandHostLost,
  type CommandPool,
  CommandStartError,
  commandPool,
} from './command-pool.ts';
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
  /** What starts the command; the process's own pool unless a test brings one. */
  pool?: CommandPool;
}

/**
 * Above this many bytes a command goes to `sh` as a script file: Linux limits one argument to
 * 128 KiB (MAX_ARG_STRLEN), and `sh -c` keeps $0 and error messages as users know them below it.
 */
const INLINE_MAX_BYTES = 100_000;
/** By its absolute path: `sh` alone is looked up in PATH, one failing exec per folder before it. */
const SHELL = '/bin/sh';
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
  const decoders = [new StringDecoder('utf8'), new StringDecoder('utf8')];
  let pid: number | undefined;
  const kill = () => killGroup(pid);
  signal.addEventListener('abort', kill, { once: true });
  let end: CommandEnd;
  try {
    end = await (run.pool ?? commandPool()).run(
      { file: SHELL, args, cwd: run.cwd, env: run.env },
      {
        started(started) {
          pid = started;
          // Ctrl-C before the command started (while its inputs were linked, or while it was
          // being started): 'abort' has fired already and never fires again.
          if (signal.aborted) kill();
        },
        output: (stream, chunk) => log.write(decoders[stream]!.write(chunk), chunk),
      },
    );
  } catch (error) {
    if (error instanceof CommandHostLost) {
      // Nothing reads the command's output any more: stop it rather than leave it running.
      killGroup(error.pid);
      throw hostLostError(run, error);
    }
    if (error instanceof CommandStartError) throw spawnError(run, error, bytes);
    throw error;
  } finally {
    signal.removeEventListener('abort', kill);
    for (const decoder of decoders) {
      const rest = decoder.end();
      if (rest) log.write(rest, Buffer.alloc(0));
    }
  }
  if (end.held) {
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
  if (end.code !== 0) {
    const how = end.signal ? `was killed by ${end.signal}` : `exited with code ${end.code}`;
    throw new PipeError(`stage "${stage}": command ${how}`, {
      code: 'E_STAGE_COMMAND',
      stage,
      loc: run.loc,
      exitCode: EXIT_STAGE_FAILED,
    });
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

function hostLostError(run: ShellRun, error: CommandHostLost): PipeError {
  return new PipeError(
    `stage "${run.stage}": ${error.message} before the command ended; the command was stopped`,
    {
      code: 'E_STAGE_COMMAND',
      stage: run.stage,
      loc: run.loc,
      hint: 'run again; a process ends like this when it is killed (by hand, or when the machine runs out of memory)',
      exitCode: EXIT_STAGE_FAILED,
      cause: error,
    },
  );
}

function spawnError(run: ShellRun, error: CommandStartError, bytes: number): Error {
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
    return new PipeError(`stage "${run.stage}": cannot start ${SHELL} (it is not on this machine)`, {
      code: 'E_STAGE_COMMAND',
      stage: run.stage,
      loc: run.loc,
      hint: `cmd: stages run through ${SHELL}; install a POSIX shell`,
      exitCode: EXIT_STAGE_FAILED,
      cause: error,
    });
  return error;
}
