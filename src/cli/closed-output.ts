// Closed stdout/stderr: `gpt2o-pipe run | head -1` closes the pipe after one line, and the next
// write fails with EPIPE. Node raises that as an unhandled 'error' event (a stack trace, stage
// processes and locks left behind). Here it is what SIGPIPE is to a C program: the run stops as on
// Ctrl-C (stage process groups killed, locks released, nothing half-done cached), nothing more is
// written to the closed stream, and the exit code is 141.
import type { Writable } from 'node:stream';
import { EXIT_BROKEN_PIPE } from '../errors.ts';

// NOTE: 141 (EXIT_BROKEN_PIPE in errors.ts) = 128 + SIGPIPE (13), what a shell reports for a process
// killed by SIGPIPE (`git log | head -1`), so `set -o pipefail` scripts see the usual "reader went
// away" status, distinct from 130 (the user pressed Ctrl-C) and from 1/2 (a stage or the spec failed).

export interface GuardedOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stdout or stderr was found closed. */
  closed: () => boolean;
}

/** Writers for process.stdout/stderr that abort `controller` the first time either is found closed. */
export function watchOutputClosed(controller: AbortController): GuardedOutput {
  const closed = { stdout: false, stderr: false };
  const onError = (name: keyof typeof closed) => (error: NodeJS.ErrnoException) => {
    // Any failed write to stdio means the output cannot be delivered (EPIPE, or a stream already
    // destroyed by one): stopping beats a stack trace.
    const first = !closed.stdout && !closed.stderr;
    closed[name] = true;
    process.exitCode = EXIT_BROKEN_PIPE; // also when the command had already returned
    if (!first) return;
    if (!closed.stderr && !controller.signal.aborted) {
      process.stderr.write(`\n${name} was closed (${error.code ?? error.message}): stopping\n`);
    }
    controller.abort();
  };
  process.stdout.on('error', onError('stdout'));
  process.stderr.on('error', onError('stderr'));
  const writer = (name: keyof typeof closed, stream: Writable) => (text: string) => {
    if (!closed[name] && !stream.destroyed) stream.write(text);
  };
  return {
    stdout: writer('stdout', process.stdout),
    stderr: writer('stderr', process.stderr),
    closed: () => closed.stdout || closed.stderr,
  };
}
