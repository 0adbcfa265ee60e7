// Processes that start stage commands (command-worker.ts), one per command running at once. The
// scheduler runs at most `jobs` stages at a time, so the pool never grows past that; a process is
// started only when a command runs, so a fully cached run starts none. Idle ones do not keep this
// process alive, and each ends when this process does (its IPC channel closes). One that goes away
// while it runs a command fails that command (never a hang): its pid, when known, is in the error,
// for the caller to stop the group.
//
// NOTE: a process of its own, not a thread of this one: starting a command forks the process that
// starts it. Measured on a cold build of 1,000 tiny stages, a fork of this one (90 MB, 13 threads)
// cost 1.7 ms of CPU per command on the thread that made it and another 0.6 ms on the main thread:
// the fork holds the memory map and malloc's locks (each page fault and allocation of the main
// thread waits), and each page the main thread writes next is copied. A fork of a small process
// costs about 0.9 ms, all of it there. Starting that process costs some 50 ms of CPU, once for
// each command running at once. One for each, not one for all: spawn() returns only once the child
// has exec'd, so one process started the commands of --jobs 2 one after another (tried: --jobs 2
// was then no faster than --jobs 1).

import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { workerProcessArgs } from '../util/worker-source.ts';

/** What a command process is asked to start. */
export interface CommandRequest {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** What a command process reports, in this order: started, output…, done; or failed alone. */
export type CommandReport =
  | { type: 'started'; pid: number }
  | { type: 'output'; stream: number; bytes: Uint8Array }
  | { type: 'done'; code: number | null; signal: NodeJS.Signals | null; held: boolean }
  | { type: 'failed'; code?: string; message: string };

export interface CommandWatch {
  /** The command's pid (its process group's id too), as soon as it is known. */
  started(pid: number): void;
  /** Bytes the command wrote; `stream` 0 is its stdout, 1 its stderr. */
  output(stream: number, bytes: Buffer): void;
}

export interface CommandEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** A process that left the command's group still held its output when it was let go. */
  held: boolean;
}

/** The command could not start (ENOENT, E2BIG, …): the system's error code and message. */
export class CommandStartError extends Error {
  constructor(
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'CommandStartError';
  }
}

/** The process running a command went away before the command ended. */
export class CommandHostLost extends Error {
  constructor(
    readonly pid: number | undefined,
    why: string,
    cause?: unknown,
  ) {
    super(`the process that started the command ${why}`, cause === undefined ? undefined : { cause });
    this.name = 'CommandHostLost';
  }
}

/**
 * What starts commands for the pool, seen as a worker thread is (a test may bring one): it is
 * posted requests, emits 'message' (a CommandReport), 'error', and 'exit' with its exit code or
 * the signal that ended it.
 */
export interface CommandHost extends EventEmitter {
  postMessage(request: CommandRequest): void;
  ref(): void;
  unref(): void;
  terminate(): unknown;
}

export class CommandPool {
  private readonly idle: CommandHost[] = [];

  /** `startHost`: how a host is made; a test keeps a handle on its hosts to end one. */
  constructor(private readonly startHost: () => CommandHost | Promise<CommandHost> = startCommandProcess) {}

  /** Starts a command on an idle host (a new one when none is idle); resolves when it has ended. */
  async run(request: CommandRequest, watch: CommandWatch): Promise<CommandEnd> {
    const worker = this.idle.pop() ?? (await this.start());
    worker.ref();
    return new Promise<CommandEnd>((resolve, reject) => {
      let pid: number | undefined;
      const finish = (keep: boolean) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        worker.unref();
        if (keep) this.idle.push(worker);
      };
      const onMessage = (message: CommandReport) => {
        switch (message.type) {
          case 'started':
            pid = message.pid;
            watch.started(message.pid);
            return;
          case 'output':
            watch.output(
              message.stream,
              Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength),
            );
            return;
          case 'done':
            finish(true);
            resolve({ code: message.code, signal: message.signal, held: message.held });
            return;
          case 'failed':
            finish(true);
            reject(new CommandStartError(message.code, message.message));
            return;
        }
      };
      const onError = (error: Error) => {
        finish(false);
        void worker.terminate();
        reject(new CommandHostLost(pid, `failed (${error.message})`, error));
      };
      const onExit = (code: number | NodeJS.Signals) => {
        finish(false);
        const how = typeof code === 'number' ? `exited with code ${code}` : `was killed by ${code}`;
        reject(new CommandHostLost(pid, how));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(request);
    });
  }

  private async start(): Promise<CommandHost> {
    const worker = await this.startHost();
    // An idle host that goes away (it should not) is simply not used again; its 'error' needs a
    // listener of its own, or it would be thrown here.
    worker.on('exit', () => {
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
    });
    worker.on('error', () => undefined);
    return worker;
  }
}

/** A command process running command-worker (src/util/worker-source.ts says where it is). */
export async function startCommandProcess(): Promise<CommandHost> {
  // Loaded here, not at start-up: a fully cached run starts no command.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, workerProcessArgs(import.meta.url, 'command-worker'), {
    // Its own session: a Ctrl-C at the terminal reaches this process, which stops the commands;
    // the process that runs them must not die of it first. It ends when its channel closes.
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    // Output comes as bytes (a Uint8Array), not as JSON text.
    serialization: 'advanced',
    // NODE_OPTIONS is for gpt2o-pipe itself (a second process on its --inspect port would fail
    // loudly); the commands are given the whole environment with each request.
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return new CommandProcess(child);
}

/** A child process seen as a CommandHost. */
class CommandProcess extends EventEmitter implements CommandHost {
  constructor(private readonly child: ChildProcess) {
    super();
    child.on('message', (report) => this.emit('message', report));
    child.on('error', (error) => this.emit('error', error));
    child.on('exit', (code, signal) => this.emit('exit', code ?? signal));
  }

  postMessage(request: CommandRequest): void {
    // A closed channel (the process died) is reported through 'error'.
    this.child.send(request, (error) => error && this.emit('error', error));
  }

  ref(): void {
    this.child.ref();
    this.child.channel?.ref();
  }

  unref(): void {
    this.child.unref();
    this.child.channel?.unref();
  }

  terminate(): void {
    this.child.kill('SIGKILL');
  }
}

let shared: CommandPool | undefined;

/** The process's pool, made on first use. */
export function commandPool(): CommandPool {
  shared ??= new CommandPool();
  return shared;
}
