// Errors as people read them: `file:line:col error CODE (stage "x")`, the message, a code frame
// and a hint. Anything that is not a PipeError is an internal error and keeps its stack.
//
// Errors carry absolute paths (loc.file, and the spec files their text names, listed in `paths`),
// whoever made them and wherever the process stands; only here, given the folder the user ran the
// command in (`cwd`, the CLI's io.cwd), are those inside it shown relative to it, as compilers do.
// Other paths in a message (a cache folder, a stage's file) are shown as the message writes them.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { type Loc, PipeError, PipeErrorList } from '../errors.ts';

/** A path as the user standing in `cwd` reads it: relative inside cwd, absolute elsewhere. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

/** `text` with each of `paths` in it shown as displayPath shows it. */
export function displayPaths(text: string, paths: readonly string[], cwd: string): string {
  // Longest first, so a path that another one extends is not cut in the middle.
  const byLength = [...new Set(paths)].sort((a, b) => b.length - a.length);
  return byLength.reduce((shown, path) => shown.replaceAll(path, displayPath(path, cwd)), text);
}

export function formatError(error: unknown, cwd: string): string {
  if (error instanceof PipeErrorList) return error.errors.map((e) => formatOne(e, cwd)).join('\n\n');
  if (error instanceof PipeError) return formatOne(error, cwd);
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `internal error (a bug in gpt2o-pipe, please report it with this output):\n${stack}`;
}

/**
 * An error for `--json`: {"ok": false, "errors": [{code, message, hint, file, line, col, stage}]},
 * every key always present (null when unknown); file is shown as in the text output.
 */
export function errorJson(error: unknown, cwd: string): string {
  const list = error instanceof PipeErrorList ? error.errors : [error];
  const errors = list.map((e) =>
    e instanceof PipeError
      ? {
          code: e.code,
          message: displayPaths(e.message, e.paths, cwd),
          hint: e.hint === undefined ? null : displayPaths(e.hint, e.paths, cwd),
          file: e.loc ? displayPath(e.loc.file, cwd) : null,
          line: e.loc?.line ?? null,
          col: e.loc?.col ?? null,
          stage: e.stage ?? null,
        }
      : {
          code: 'E_INTERNAL',
          message: `internal error (a bug in gpt2o-pipe): ${e instanceof Error ? e.message : String(e)}`,
          hint: 'please report it with the text printed on stderr',
          file: null,
          line: null,
          col: null,
          stage: null,
        },
  );
  return JSON.stringify({ ok: false, errors });
}

function formatOne(error: PipeError, cwd: string): string {
  const where = error.loc ? `${displayPath(error.loc.file, cwd)}:${error.loc.line}:${error.loc.col} ` : '';
  const stage = error.stage ? ` (stage "${error.stage}")` : '';
  const lines = [`${where}error ${error.code}${stage}`, `  ${displayPaths(error.message, error.paths, cwd)}`];
  if (error.loc) lines.push(...codeFrame(error.loc));
  if (error.hint) lines.push(`  hint: ${displayPaths(error.hint, error.paths, cwd)}`);
  return lines.join('\n');
}

const FRAME_WIDTH = 120;

/** The offending line with a caret under the column, like compilers print. */
export function codeFrame(loc: Loc): string[] {
  let text: string;
  try {
    text = readFileSync(loc.file, 'utf8');
  } catch {
    return [];
  }
  const full = text.split(/\r?\n/)[loc.line - 1];
  if (full === undefined) return [];
  // A long line (minified YAML, a huge flow value) shows a window around the column.
  const from = Math.max(0, loc.col - 1 - FRAME_WIDTH / 2);
  const line =
    (from > 0 ? '…' : '') +
    full.slice(from, from + FRAME_WIDTH) +
    (full.length > from + FRAME_WIDTH ? '…' : '');
  const col = loc.col - from + (from > 0 ? 1 : 0);
  const number = String(loc.line);
  const gutter = ' '.repeat(number.length);
  return [`  ${number} | ${line}`, `  ${gutter} | ${' '.repeat(Math.max(0, col - 1))}^`];
}
