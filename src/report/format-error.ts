// Errors as people read them: `file:line:col error CODE (stage "x")`, the message, a code frame
// and a hint. Anything that is not a PipeError is an internal error and keeps its stack.
import { readFileSync } from 'node:fs';
import { type Loc, PipeError, PipeErrorList } from '../errors.ts';
import { displayPath } from '../pipeline/yaml-file.ts';

export function formatError(error: unknown): string {
  if (error instanceof PipeErrorList) return error.errors.map(formatOne).join('\n\n');
  if (error instanceof PipeError) return formatOne(error);
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `internal error (a bug in gpt2o-pipe, please report it with this output):\n${stack}`;
}

/**
 * An error for `--json`: {"ok": false, "errors": [{code, message, hint, file, line, col, stage}]},
 * every key always present (null when unknown); file is shown as in the text output.
 */
export function errorJson(error: unknown): string {
  const list = error instanceof PipeErrorList ? error.errors : [error];
  const errors = list.map((e) =>
    e instanceof PipeError
      ? {
          code: e.code,
          message: e.message,
          hint: e.hint ?? null,
          file: e.loc ? displayPath(e.loc.file) : null,
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

function formatOne(error: PipeError): string {
  const where = error.loc ? `${displayPath(error.loc.file)}:${error.loc.line}:${error.loc.col} ` : '';
  const stage = error.stage ? ` (stage "${error.stage}")` : '';
  const lines = [`${where}error ${error.code}${stage}`, `  ${error.message}`];
  if (error.loc) lines.push(...codeFrame(error.loc));
  if (error.hint) lines.push(`  hint: ${error.hint}`);
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
