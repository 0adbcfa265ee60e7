// Worker threads that start stage commands (command-worker.ts), one per command running at once.
// The scheduler runs at most `jobs` stages at a time, so the pool never grows past that; a thread
// is started only when a command runs, so a fully cached run starts none. Idle threads do not keep
// the process alive. A thread that goes away while it runs a command fails that command (never a
// hang): its pid, when known, is in the error, for the caller to stop the group.
import type { Worker } from 'node:worker_threads';
import { workerSource } from '../util/worker-source.ts';

/** What a command thread is asked to start. */
export interface CommandRequest {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** What a command thread reports, in this order: started, output…, done; or failed alone. */
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

/** The thread running a command went away before the command ended. */
export class CommandThreadLost extends Error {
  constructor(
    readonly pid: number | undefined,
    why: string,
    cause?: unknown,
  ) {
    super(`the thread that started the command ${why}`, cause === undefined ? undefined : { cause });
    this.name = 'CommandThreadLost';
  }
}

export class CommandPool {
  private readonly idle: Worker[] = [];

  /** `startThread`: how a thread is made; a test keeps a handle on its threads to end one. */
  constructor(private readonly startThread: () => Worker | Promise<Worker> = startCommandThread) {}

  /** Starts a command on an idle thread (a new one when none is idle); resolves when it has ended. */
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
        reject(new CommandThreadLost(pid, `failed (${error.message})`, error));
      };
      const onExit = (code: number) => {
        finish(false);
        reject(new CommandThreadLost(pid, `exited with code ${code}`));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(request);
    });
  }

  private async start(): Promise<Worker> {
    const worker = await this.startThread();
    // An idle thread that goes away (it should not) is simply not used again; its 'error' needs a
    // listener of its own, or it would be thrown in this thread.
    worker.on('exit', () => {
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
    });
    worker.on('error', () => undefined);
    return worker;
  }
}

/** The command thread beside this module (src/util/worker-source.ts says where). */
export async function startCommandThread(): Promise<Worker> {
  // Loaded here, not at start-up: a fully cached run starts no command (a builtin costs ~2 ms to load).
  const { Worker } = await import('node:worker_threads');
  return new Worker(...workerSource(import.meta.url, 'command-worker'));
}

let shared: CommandPool | undefined;

/** The process's pool, made on first use. */
export function commandPool(): CommandPool {
  shared ??= new CommandPool();
  return shared;
}
