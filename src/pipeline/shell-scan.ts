// Finds the shell context of every `${ref}` in a `cmd:` template, so a param can be passed as an
// environment variable and referenced where `sh` expands it exactly once and never re-parses it.
// A context where that cannot be done, or that this scanner cannot follow for certain, refuses
// the ref (the spec is rejected at load time): guessing wrong would turn a value into syntax.
//
// The scanner follows POSIX sh lexing: '…', "…", \ escapes, $(…), `…`, ${…}, $((…)), ((…)),
// comments and here-documents. It is iterative (an explicit frame stack), so no input can
// overflow the JS stack.
import type { TemplatePart } from './template.ts';

/**
 * Where a ref lands: an unquoted word, inside "…", in an unquoted here-doc body, inside $((…))
 * (only a whole number may go there: the shell evaluates the text), or refused.
 */
export type RefPlace =
  | { kind: 'word' }
  | { kind: 'dquote' }
  | { kind: 'heredoc' }
  | { kind: 'arith'; context: string; hint: string }
  | { kind: 'refused'; context: string; hint: string };

type Frame =
  | { type: 'plain'; subst: boolean; parens: number; heredocs: Heredoc[] }
  | { type: 'dquote' }
  | { type: 'param' }
  | { type: 'arith'; parens: number }
  | { type: 'body'; end: number; resume: number; rest: Heredoc[] };

interface Heredoc {
  delimiter: string;
  quoted: boolean;
  stripTabs: boolean;
}

// NOTE: refs are marked by NUL in the scanned text; a cmd containing NUL is refused before this.
const REF = '\0';
const BLANK = /[ \t]/;
const WORD_END = /[\s;&|<>()]/;
const OPERATOR = /[;&|()<>]/;

const ENV_HINT = 'read the param from its environment variable instead (see "Params in cmd:" in README)';

const REFUSED = {
  single: {
    context: "inside '…' (single quotes)",
    hint: `the shell expands nothing in '…', and such text is usually a program for another tool (awk, sed, python -c); close the quotes around the ref ('a'\${p}'b'), or ${ENV_HINT}`,
  },
  backtick: {
    context: 'inside `…` (backquotes)',
    hint: 'write $(…) instead of `…`: its quoting nests reliably',
  },
  param: {
    context: 'inside a shell ${…} expansion (e.g. ${x:-…})',
    hint: 'assign the ref to a shell variable first (v=${p}; echo "${x:-$v}"), or use it outside the ${…}',
  },
  arith: {
    context: 'inside $((…)) or ((…)) (arithmetic)',
    hint: 'only a whole-number value may go there: the shell evaluates the text as an expression (bash even runs $(…) in it); pass other values as an argument to a script',
  },
  comment: {
    context: 'inside a # comment',
    hint: 'a ref in a comment does nothing; remove it',
  },
  backslash: {
    context: 'right after a backslash',
    hint: 'a backslash before ${p} would quote the "$" of the variable; remove the backslash',
  },
  dollar: {
    context: 'right after a "$"',
    hint: 'separate the "$" from the ref, or write $${ for a literal "${"',
  },
  quotedBody: {
    context: "inside a quoted here-document (<<'EOF')",
    hint: 'the shell expands nothing there: use an unquoted delimiter (<<EOF), or pass the value as an argument',
  },
  delimiter: {
    context: 'in a here-document delimiter',
    hint: 'a here-document delimiter must be literal text',
  },
} as const;

/** The place of each ref of `parts`, in order. */
export function scanRefPlaces(parts: readonly TemplatePart[]): RefPlace[] {
  const src = parts.map((p) => ('text' in p ? p.text : REF)).join('');
  const places: RefPlace[] = [];
  const stack: Frame[] = [{ type: 'plain', subst: false, parens: 0, heredocs: [] }];
  let i = 0;
  let wordStart = true;
  let lost: string | undefined;
  const refuse = (why: { context: string; hint: string }) => places.push({ kind: 'refused', ...why });
  const loseTrack = (what: string) => {
    lost = what;
  };

  /** Starts the bodies of here-documents after a newline at `start`. */
  const startBodies = (queue: Heredoc[], start: number): number => {
    let at = start;
    while (queue.length > 0) {
      const doc = queue.shift()!;
      const { end, resume } = findBody(src, at, doc);
      if (doc.quoted) {
        for (let k = at; k < end; k++) if (src[k] === REF) refuse(REFUSED.quotedBody);
        at = resume;
        continue;
      }
      stack.push({ type: 'body', end, resume, rest: queue.splice(0) });
      return at;
    }
    return at;
  };

  while (i < src.length && lost === undefined) {
    const frame = stack[stack.length - 1]!;
    const c = src[i]!;
    const next = src[i + 1];

    if (frame.type === 'body' && i >= frame.end) {
      stack.pop();
      i = startBodies(frame.rest, frame.resume);
      continue;
    }
    const body = innermostBody(stack);
    if (body && i >= body.end) {
      loseTrack('a $(…) or quote left open at the end of a here-document');
      break;
    }

    if (c === REF) {
      if (src[i - 1] === '$' && !escapedAt(src, i - 1)) refuse(REFUSED.dollar);
      else if (frame.type === 'plain') places.push({ kind: 'word' });
      else if (frame.type === 'dquote') places.push({ kind: 'dquote' });
      else if (frame.type === 'body') places.push({ kind: 'heredoc' });
      else if (frame.type === 'arith') places.push({ kind: 'arith', ...REFUSED.arith });
      else refuse(REFUSED.param);
      wordStart = false;
      i++;
      continue;
    }

    if (c === '\\') {
      if (next === REF) {
        refuse(REFUSED.backslash);
        i += 2;
      } else if (frame.type === 'dquote') i += next !== undefined && '$`"\\\n'.includes(next) ? 2 : 1;
      else if (frame.type === 'body') i += next !== undefined && '$`\\\n'.includes(next) ? 2 : 1;
      else i += 2;
      wordStart = false;
      continue;
    }

    // Expansions start the same way in every frame that expands: $(( $( ${ and `…`.
    if (c === '$' && next === '(' && src[i + 2] === '(') {
      stack.push({ type: 'arith', parens: 0 });
      i += 3;
      continue;
    }
    if (c === '$' && next === '(') {
      stack.push({ type: 'plain', subst: true, parens: 0, heredocs: [] });
      wordStart = true;
      i += 2;
      continue;
    }
    if (c === '$' && next === '{') {
      stack.push({ type: 'param' });
      i += 2;
      continue;
    }
    if (c === '`') {
      const end = closingBacktick(src, i + 1);
      for (let k = i + 1; k < end; k++) if (src[k] === REF) refuse(REFUSED.backtick);
      i = end + 1;
      wordStart = false;
      continue;
    }

    if (frame.type === 'dquote') {
      if (c === '"') stack.pop();
      i++;
      continue;
    }
    if (frame.type === 'body') {
      i++;
      continue;
    }
    if (frame.type === 'param' || frame.type === 'arith') {
      if (c === "'" || c === '"') {
        loseTrack(`quotes inside ${frame.type === 'param' ? '${…}' : '$((…))'} (shells differ there)`);
        break;
      }
      if (frame.type === 'param') {
        if (c === '}') stack.pop();
      } else if (c === '(') frame.parens++;
      else if (c === ')') {
        if (frame.parens > 0) frame.parens--;
        else if (next === ')') {
          stack.pop();
          i++;
        } else {
          loseTrack('an unbalanced ")" inside $((…))');
          break;
        }
      }
      i++;
      continue;
    }

    // A plain frame: the top level, or the inside of $(…).
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      const stop = end < 0 ? src.length : end;
      for (let k = i + 1; k < stop; k++) if (src[k] === REF) refuse(REFUSED.single);
      i = stop + 1;
      wordStart = false;
      continue;
    }
    if (c === '"') {
      stack.push({ type: 'dquote' });
      i++;
      wordStart = false;
      continue;
    }
    if (c === '$' && next === "'") {
      loseTrack("$'…' quoting (shells differ on it)");
      break;
    }
    if (c === '$' && next === '[') {
      loseTrack('$[…] arithmetic');
      break;
    }
    if (c === '#' && wordStart) {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      for (let k = i; k < stop; k++) if (src[k] === REF) refuse(REFUSED.comment);
      i = stop;
      continue;
    }
    if (wordStart && c === '(' && next === '(') {
      stack.push({ type: 'arith', parens: 0 });
      i += 2;
      continue;
    }
    if (wordStart && frame.subst && /^case(?=[\s;]|$)/.test(src.slice(i, i + 5))) {
      // `case x in a) …` inside $(…): the pattern's ")" cannot be told from the closing one here.
      loseTrack('a case statement inside $(…)');
      break;
    }
    if (c === '<' && next === '<' && src[i + 2] !== '<') {
      const parsed = readDelimiter(src, i + 2);
      if (parsed.refAt !== undefined) {
        refuse(REFUSED.delimiter);
        loseTrack('a here-document whose delimiter is a param');
        break;
      }
      if (parsed.doc === undefined) {
        loseTrack('a here-document without a delimiter');
        break;
      }
      frame.heredocs.push(parsed.doc);
      i = parsed.end;
      wordStart = false;
      continue;
    }
    if (c === '<' && next === '<') {
      i += 3; // bash's <<< here-string: the word after it is an ordinary word
      wordStart = true;
      continue;
    }
    if (c === '(') frame.parens++;
    if (c === ')') {
      if (frame.parens > 0) frame.parens--;
      else if (frame.subst) {
        if (frame.heredocs.length > 0) {
          loseTrack('a here-document that starts inside $(…) but whose body follows it');
          break;
        }
        stack.pop();
        i++;
        wordStart = false;
        continue;
      }
    }
    if (c === '\n' && frame.heredocs.length > 0) {
      i = startBodies(frame.heredocs.splice(0), i + 1);
      wordStart = true;
      continue;
    }
    wordStart = BLANK.test(c) || c === '\n' || OPERATOR.test(c);
    i++;
  }

  if (lost !== undefined) {
    const refsSeen = places.length;
    const total = parts.filter((p) => 'ref' in p).length;
    for (let k = refsSeen; k < total; k++) {
      refuse({
        context: `after ${lost}, which gpt2o-pipe cannot follow for certain`,
        hint: `move that part into a script file (listed in deps:) and pass the param to it as an argument, or ${ENV_HINT}`,
      });
    }
  }
  return places;
}

function innermostBody(stack: Frame[]): Extract<Frame, { type: 'body' }> | undefined {
  for (let k = stack.length - 1; k >= 0; k--) {
    const f = stack[k]!;
    if (f.type === 'body') return f;
  }
  return undefined;
}

/** True when the character at `at` is escaped by an odd run of backslashes before it. */
function escapedAt(src: string, at: number): boolean {
  let n = 0;
  for (let k = at - 1; k >= 0 && src[k] === '\\'; k--) n++;
  return n % 2 === 1;
}

/** Index of the backquote closing one opened before `from` (only `\` escapes count inside). */
function closingBacktick(src: string, from: number): number {
  for (let k = from; k < src.length; k++) {
    if (src[k] === '\\') k++;
    else if (src[k] === '`') return k;
  }
  return src.length;
}

/** Reads the delimiter word after `<<` (or `<<-`). */
function readDelimiter(src: string, from: number): { doc?: Heredoc; end: number; refAt?: number } {
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
function findBody(src: string, start: number, doc: Heredoc): { end: number; resume: number } {
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
