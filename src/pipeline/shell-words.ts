// The word-level pieces of the cmd: scanner (shell-scan.ts): escapes, backquotes, and here-document
// delimiters and bodies, each a pure function of the scanned text and a position in it.

// NOTE: refs are marked by NUL in the scanned text; a cmd containing NUL is refused before this.
export const REF = '\0';
export const BLANK = /[ \t]/;
const WORD_END = /[\s;&|<>()]/;

/** A here-document announced by `<<DELIM`, whose body starts after the next newline. */
export interface Heredoc {
  delimiter: string;
  quoted: boolean;
  stripTabs: boolean;
}

/** True when the character at `at` is escaped by an odd run of backslashes before it. */
export function escapedAt(src: string, at: number): boolean {
  let n = 0;
  for (let k = at - 1; k >= 0 && src[k] === '\\'; k--) n++;
  return n % 2 === 1;
}

/** Index of the backquote closing one opened before `from` (only `\` escapes count inside). */
export function closingBacktick(src: string, from: number): number {
  for (let k = from; k < src.length; k++) {
    if (src[k] === '\\') k++;
    else if (src[k] === '`') return k;
  }
  return src.length;
}

/** Reads the delimiter word after `<<` (or `<<-`). */
export function readDelimiter(src: string, from: number): { doc?: Heredoc; end: number; refAt?: number } {
  let k = from;
  const stripTabs = src[k] === '-';
  if (stripTabs) k++;
  while (k < src.length && BLANK.test(src[k]!)) k++;
  let delimiter = '';
  let quoted = false;
  while (k < src.length && !WORD_END.test(src[k]!)) {
    const c = src[k]!;
    if (c === REF) return { end: k, refAt: k };
    if (c === "'" || c === '"') {
      quoted = true;
      const close = src.indexOf(c, k + 1);
      const stop = close < 0 ? src.length : close;
      const inner = src.slice(k + 1, stop);
      if (inner.includes(REF)) return { end: k, refAt: k };
      delimiter += inner;
      k = stop + 1;
    } else if (c === '\\') {
      quoted = true;
      delimiter += src[k + 1] ?? '';
      k += 2;
    } else {
      delimiter += c;
      k++;
    }
  }
  if (delimiter === '') return { end: k };
  return { doc: { delimiter, quoted, stripTabs }, end: k };
}

/** The body of a here-document starting at `start`: up to the delimiter line, or to the end. */
export function findBody(src: string, start: number, doc: Heredoc): { end: number; resume: number } {
  let at = start;
  while (at < src.length) {
    const newline = src.indexOf('\n', at);
    const lineEnd = newline < 0 ? src.length : newline;
    const line = src.slice(at, lineEnd);
    if ((doc.stripTabs ? line.replace(/^\t+/, '') : line) === doc.delimiter) {
      return { end: at, resume: Math.min(src.length, lineEnd + 1) };
    }
    at = lineEnd + 1;
  }
  return { end: src.length, resume: src.length };
}
