// Finds the shell context of every `${ref}` in a `cmd:` template, so a param can be passed as an
// environment variable and referenced where `sh` expands it exactly once and never re-parses it.
// A context where that cannot be done, or that this scanner cannot follow for certain, refuses
// the ref (the spec is rejected at load time): guessing wrong would turn a value into syntax.
//
// The scanner follows POSIX sh lexing: '…', "…", \ escapes, $(…), `…`, ${…}, $((…)), ((…)),
// comments and here-documents. It is iterative (an explicit frame stack), so no input can
// overflow the JS stack.

import { ENV_HINT, REFUSED } from './shell-refusals.ts';
import {
  BLANK,
  closingBacktick,
  escapedAt,
  findBody,
  type Heredoc,
  REF,
  readDelimiter,
} from './shell-words.ts';
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

const OPERATOR = /[;&|()<>]/;

/** The place of each ref of `parts`, in order. */
export function scanRefPlaces(parts: readonly TemplatePart[]): RefPlace[] {
  const scanner = new ShellScanner(parts.map((p) => ('text' in p ? p.text : REF)).join(''));
  scanner.run();
  return scanner.finish(parts.filter((p) => 'ref' in p).length);
}

type Why = { context: string; hint: string };

/**
 * One pass over the text: a stack of frames (the top level, $(…), "…", ${…}, $((…)), a here-doc
 * body) and the position in the text. Each step reads one token of the innermost frame; losing
 * track (a construct it cannot follow for certain) stops the scan.
 */
class ShellScanner {
  private readonly places: RefPlace[] = [];
  private readonly stack: Frame[] = [{ type: 'plain', subst: false, parens: 0, heredocs: [] }];
  private i = 0;
  private wordStart = true;
  private lost: string | undefined;

  constructor(private readonly src: string) {}

  run(): void {
    while (this.i < this.src.length && this.lost === undefined) this.step();
  }

  /** The places found; after losing track, every ref not reached yet is refused, saying why. */
  finish(total: number): RefPlace[] {
    if (this.lost !== undefined) {
      for (let k = this.places.length; k < total; k++) {
        this.refuse({
          context: `after ${this.lost}, which gpt2o-pipe cannot follow for certain`,
          hint: `move that part into a script file (listed in deps:) and pass the param to it as an argument, or ${ENV_HINT}`,
        });
      }
    }
    return this.places;
  }

  private refuse(why: Why): void {
    this.places.push({ kind: 'refused', ...why });
  }

  /** Refuses every ref in src[from, to) as `why`. */
  private refuseRefs(from: number, to: number, why: Why): void {
    for (let k = from; k < to; k++) if (this.src[k] === REF) this.refuse(why);
  }

  private loseTrack(what: string): void {
    this.lost = what;
  }

  private step(): void {
    const { src, stack } = this;
    const frame = stack[stack.length - 1]!;
    const c = src[this.i]!;
    const next = src[this.i + 1];
    if (frame.type === 'body' && this.i >= frame.end) {
      stack.pop();
      this.i = this.startBodies(frame.rest, frame.resume);
      return;
    }
    const body = innermostBody(stack);
    if (body && this.i >= body.end) {
      this.loseTrack('a $(…) or quote left open at the end of a here-document');
      return;
    }
    if (c === REF) {
      this.ref(frame);
      return;
    }
    if (c === '\\') {
      this.backslash(frame, next);
      return;
    }
    if (this.expansionStart(c, next)) return;
    if (frame.type === 'dquote') {
      if (c === '"') stack.pop();
      this.i++;
      return;
    }
    if (frame.type === 'body') {
      this.i++;
      return;
    }
    if (frame.type === 'param' || frame.type === 'arith') {
      this.insideExpansion(frame, c, next);
      return;
    }
    if (this.plainQuoteOrComment(c, next)) return;
    this.plain(frame, c, next);
  }

  /** A ref: its place is the innermost frame's, unless a "$" right before it makes it syntax. */
  private ref(frame: Frame): void {
    const { src, i } = this;
    if (src[i - 1] === '$' && !escapedAt(src, i - 1)) this.refuse(REFUSED.dollar);
    else if (frame.type === 'plain') this.places.push({ kind: 'word' });
    else if (frame.type === 'dquote') this.places.push({ kind: 'dquote' });
    else if (frame.type === 'body') this.places.push({ kind: 'heredoc' });
    else if (frame.type === 'arith') this.places.push({ kind: 'arith', ...REFUSED.arith });
    else this.refuse(REFUSED.param);
    this.wordStart = false;
    this.i++;
  }

  /** A backslash escapes what follows it: anything unquoted, only some characters in "…" and bodies. */
  private backslash(frame: Frame, next: string | undefined): void {
    if (next === REF) {
      this.refuse(REFUSED.backslash);
      this.i += 2;
    } else if (frame.type === 'dquote') this.i += next !== undefined && '$`"\\\n'.includes(next) ? 2 : 1;
    else if (frame.type === 'body') this.i += next !== undefined && '$`\\\n'.includes(next) ? 2 : 1;
    else this.i += 2;
    this.wordStart = false;
  }

  /** Expansions start the same way in every frame that expands: $(( $( ${ and `…`. */
  private expansionStart(c: string, next: string | undefined): boolean {
    const { src, stack } = this;
    if (c === '$' && next === '(' && src[this.i + 2] === '(') {
      stack.push({ type: 'arith', parens: 0 });
      this.i += 3;
    } else if (c === '$' && next === '(') {
      stack.push({ type: 'plain', subst: true, parens: 0, heredocs: [] });
      this.wordStart = true;
      this.i += 2;
    } else if (c === '$' && next === '{') {
      stack.push({ type: 'param' });
      this.i += 2;
    } else if (c === '`') {
      const end = closingBacktick(src, this.i + 1);
      this.refuseRefs(this.i + 1, end, REFUSED.backtick);
      this.i = end + 1;
      this.wordStart = false;
    } else return false;
    return true;
  }

  /** Inside ${…} (up to its "}") or $((…)) (up to the "))" that balances it). */
  private insideExpansion(
    frame: Extract<Frame, { type: 'param' } | { type: 'arith' }>,
    c: string,
    next: string | undefined,
  ): void {
    if (c === "'" || c === '"') {
      this.loseTrack(`quotes inside ${frame.type === 'param' ? '${…}' : '$((…))'} (shells differ there)`);
      return;
    }
    if (frame.type === 'param') {
      if (c === '}') this.stack.pop();
    } else if (c === '(') frame.parens++;
    else if (c === ')') {
      if (frame.parens > 0) frame.parens--;
      else if (next === ')') {
        this.stack.pop();
        this.i++;
      } else {
        this.loseTrack('an unbalanced ")" inside $((…))');
        return;
      }
    }
    this.i++;
  }

  /** In a plain frame: '…', "…", a # comment, or quoting this scanner does not follow. */
  private plainQuoteOrComment(c: string, next: string | undefined): boolean {
    const { src } = this;
    if (c === "'") {
      const end = src.indexOf("'", this.i + 1);
      const stop = end < 0 ? src.length : end;
      this.refuseRefs(this.i + 1, stop, REFUSED.single);
      this.i = stop + 1;
      this.wordStart = false;
    } else if (c === '"') {
      this.stack.push({ type: 'dquote' });
      this.i++;
      this.wordStart = false;
    } else if (c === '$' && next === "'") this.loseTrack("$'…' quoting (shells differ on it)");
    else if (c === '$' && next === '[') this.loseTrack('$[…] arithmetic');
    else if (c === '#' && this.wordStart) {
      const end = src.indexOf('\n', this.i);
      const stop = end < 0 ? src.length : end;
      this.refuseRefs(this.i, stop, REFUSED.comment);
      this.i = stop;
    } else return false;
    return true;
  }

  /** The rest of a plain frame (the top level, or the inside of $(…)): ((…)), here-docs, parens, words. */
  private plain(frame: Extract<Frame, { type: 'plain' }>, c: string, next: string | undefined): void {
    const { src } = this;
    if (this.wordStart && c === '(' && next === '(') {
      this.stack.push({ type: 'arith', parens: 0 });
      this.i += 2;
      return;
    }
    if (this.wordStart && frame.subst && /^case(?=[\s;]|$)/.test(src.slice(this.i, this.i + 5))) {
      // `case x in a) …` inside $(…): the pattern's ")" cannot be told from the closing one here.
      this.loseTrack('a case statement inside $(…)');
      return;
    }
    if (c === '<' && next === '<') {
      this.heredocOperator(frame);
      return;
    }
    if (c === '(') frame.parens++;
    if (c === ')') {
      if (frame.parens > 0) frame.parens--;
      else if (frame.subst) {
        if (frame.heredocs.length > 0) {
          this.loseTrack('a here-document that starts inside $(…) but whose body follows it');
          return;
        }
        this.stack.pop();
        this.i++;
        this.wordStart = false;
        return;
      }
    }
    if (c === '\n' && frame.heredocs.length > 0) {
      this.i = this.startBodies(frame.heredocs.splice(0), this.i + 1);
      this.wordStart = true;
      return;
    }
    this.wordStart = BLANK.test(c) || c === '\n' || OPERATOR.test(c);
    this.i++;
  }

  /** `<<DELIM` queues a here-document for the next newline; `<<<` is bash's here-string. */
  private heredocOperator(frame: Extract<Frame, { type: 'plain' }>): void {
    if (this.src[this.i + 2] === '<') {
      this.i += 3; // the word after a here-string is an ordinary word
      this.wordStart = true;
      return;
    }
    const parsed = readDelimiter(this.src, this.i + 2);
    if (parsed.refAt !== undefined) {
      this.refuse(REFUSED.delimiter);
      this.loseTrack('a here-document whose delimiter is a param');
      return;
    }
    if (parsed.doc === undefined) {
      this.loseTrack('a here-document without a delimiter');
      return;
    }
    frame.heredocs.push(parsed.doc);
    this.i = parsed.end;
    this.wordStart = false;
  }

  /** Starts the bodies of here-documents after a newline at `start`; returns where scanning goes on. */
  private startBodies(queue: Heredoc[], start: number): number {
    let at = start;
    while (queue.length > 0) {
      const doc = queue.shift()!;
      const { end, resume } = findBody(this.src, at, doc);
      if (doc.quoted) {
        this.refuseRefs(at, end, REFUSED.quotedBody);
        at = resume;
        continue;
      }
      this.stack.push({ type: 'body', end, resume, rest: queue.splice(0) });
      return at;
    }
    return at;
  }
}

function innermostBody(stack: Frame[]): Extract<Frame, { type: 'body' }> | undefined {
  for (let k = stack.length - 1; k >= 0; k--) {
    const f = stack[k]!;
    if (f.type === 'body') return f;
  }
  return undefined;
}
