// Errors as people read them: `file:line:col error CODE (stage "x")`, the message, a code frame
// and a hint. Anything that is not a PipeError is an internal error and keeps its stack.
import { readFileSync } from 'node:fs';
import { type Loc, PipeError, PipeErrorList } from '../errors.ts';
import { displayPath } from '../spec/yaml-file.ts';

export function formatError(error: unknown): string {
  if (error instanceof PipeErrorList) return error.errors.map(formatOne).join('\n\n');
  if (error instanceof PipeError) return formatOne(error);
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `internal error (a bug in gpt2o-pipe, please report it with this output):\n${stack}`;
}

function formatOne(error: PipeError): string {
  const where = error.loc ? `${displayPath(error.loc.file)}:${error.loc.line}:${error.loc.col} ` : '';
  const stage = error.stage ? ` (stage "${error.stage}")` : '';
  const lines = [`${where}error ${error.code}${stage}`, `  ${error.message}`];
  if (error.loc) lines.push(...codeFrame(error.loc));
  if (error.hint) lines.push(`  hint: ${error.hint}`);
  return lines.join('\n');
}

/** The offending line with a caret under the column, like compilers print. */
export function codeFrame(loc: Loc): string[] {
  let text: string;
  try {
    text = readFileSync(loc.file, 'utf8');
  } catch {
    return [];
  }
  const line = text.split(/\r?\n/)[loc.line - 1];
  if (line === undefined) return [];
  const number = String(loc.line);
  const gutter = ' '.repeat(number.length);
  return [`  ${number} | ${line}`, `  ${gutter} | ${' '.repeat(Math.max(0, loc.col - 1))}^`];
}
