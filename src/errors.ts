// One error type for everything a person can act on. Anything that is not a PipeError is a bug in
// gpt2o-pipe and is printed as an internal error with its stack (see report/format-error.ts).

/** A place in a spec file, 1-based like editors show it. */
export interface Loc {
  file: string;
  line: number;
  col: number;
}

/**
 * Exit codes are a public contract, and this is their one owner: 0 ok, 1 a stage failed, 2 spec or
 * usage error, 70 internal error (a bug; EX_SOFTWARE from sysexits.h), 130 interrupted (128 +
 * SIGINT, what a shell shows after Ctrl-C), 141 stdout closed (128 + SIGPIPE, as `git log | head`).
 */
export const EXIT_OK = 0;
export const EXIT_STAGE_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;
export const EXIT_INTERRUPTED = 130;
export const EXIT_BROKEN_PIPE = 141;

export interface PipeErrorInit {
  /** Stable machine-readable code, e.g. E_SPEC_UNKNOWN_PARAM. */
  code: string;
  /** What to do about it. */
  hint?: string;
  loc?: Loc;
  stage?: string;
  cause?: unknown;
  /** Exit code when this error ends the program; spec and usage errors default to 2. */
  exitCode?: number;
  /**
   * Absolute paths of files the message names for the user (spec files), which the reporter shows
   * relative to the folder the command ran in. Other paths in a message are shown as written.
   */
  paths?: readonly string[];
}

/** Why it exists: errors with a code, a hint and a location, so messages point at the cause. */
export class PipeError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly loc?: Loc;
  readonly stage?: string;
  readonly exitCode: number;
  readonly paths: readonly string[];

  constructor(message: string, init: PipeErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'PipeError';
    this.code = init.code;
    this.hint = init.hint;
    this.loc = init.loc;
    this.stage = init.stage;
    this.exitCode = init.exitCode ?? EXIT_USAGE;
    this.paths = init.paths ?? [];
  }
}

/** Several spec errors reported at once, sorted by file and line (changesets-style "all errors"). */
export class PipeErrorList extends PipeError {
  readonly errors: PipeError[];

  constructor(errors: PipeError[]) {
    const sorted = [...errors].sort(compareByLocation);
    super(sorted.length === 1 ? sorted[0]!.message : `${sorted.length} problems in the spec`, {
      code: sorted[0]?.code ?? 'E_SPEC',
      exitCode: Math.max(...sorted.map((e) => e.exitCode)),
    });
    this.errors = sorted;
  }
}

function compareByLocation(a: PipeError, b: PipeError): number {
  const fa = a.loc?.file ?? '';
  const fb = b.loc?.file ?? '';
  if (fa !== fb) return fa < fb ? -1 : 1;
  return (a.loc?.line ?? 0) - (b.loc?.line ?? 0) || (a.loc?.col ?? 0) - (b.loc?.col ?? 0);
}

/** Collects errors so a validator can report all of them, not just the first. */
export class ErrorSink {
  readonly errors: PipeError[] = [];
  add(error: PipeError): void {
    this.errors.push(error);
  }
  throwIfAny(): void {
    if (this.errors.length === 1) throw this.errors[0];
    if (this.errors.length > 1) throw new PipeErrorList(this.errors);
  }
}
