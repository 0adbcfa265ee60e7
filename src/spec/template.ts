// `${a.b.c}` templates: parsing, and rendering into shell commands with quoting that follows the
// command's own quote context, so a param value can never inject shell syntax.

export type TemplatePart = { text: string } | { ref: string; offset: number };

const REF = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

export class TemplateSyntaxError extends Error {}

/** Splits a string into literal text and `${ref}`s. `$${` stands for a literal `${`. */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      literal += '${';
      i += 3;
    } else if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2);
      if (end < 0) throw new TemplateSyntaxError(`unclosed "\${" at character ${i + 1}`);
      const ref = text.slice(i + 2, end).trim();
      if (!REF.test(ref))
        throw new TemplateSyntaxError(
          `"\${${ref}}" is not a param reference (expected a dotted name like train.max_lr)`,
        );
      if (literal) parts.push({ text: literal });
      literal = '';
      parts.push({ ref, offset: i });
      i = end + 1;
    } else {
      literal += text[i];
      i++;
    }
  }
  if (literal) parts.push({ text: literal });
  return parts;
}

/** A whole-string `${ref}` keeps the param's type (a number stays a number in `with:`). */
export function soleRef(parts: TemplatePart[]): string | undefined {
  const only = parts.length === 1 ? parts[0] : undefined;
  return only && 'ref' in only ? only.ref : undefined;
}

/** Renders a value as text for a string template outside a shell. */
export function scalarText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

type QuoteState = 'plain' | 'single' | 'double';

/**
 * Renders a `cmd:` template. Each value is quoted for the quote context it lands in:
 * plain → single-quoted word(s); inside '…' → `'\''` escapes; inside "…" → backslash escapes.
 */
export function renderCommand(parts: TemplatePart[], lookup: (ref: string) => unknown): string {
  let out = '';
  let state: QuoteState = 'plain';
  for (const part of parts) {
    if ('text' in part) {
      state = scanQuotes(part.text, state);
      out += part.text;
      continue;
    }
    const value = lookup(part.ref);
    const words = Array.isArray(value) ? value.map(scalarText) : [scalarText(value)];
    out += words.map((w) => quoteFor(w, state)).join(' ');
  }
  return out;
}

function quoteFor(word: string, state: QuoteState): string {
  if (state === 'single') return word.replace(/'/g, `'\\''`);
  if (state === 'double') return word.replace(/[\\$`"]/g, (c) => `\\${c}`);
  return shellQuote(word);
}

/** POSIX sh quoting of one word; safe words stay readable. */
export function shellQuote(word: string): string {
  if (word === '') return "''";
  if (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Follows sh quoting through literal text to know the context at its end. */
function scanQuotes(text: string, start: QuoteState): QuoteState {
  let state = start;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (state === 'single') {
      if (c === "'") state = 'plain';
    } else if (state === 'double') {
      if (c === '\\') i++;
      else if (c === '"') state = 'plain';
    } else if (c === '\\') i++;
    else if (c === "'") state = 'single';
    else if (c === '"') state = 'double';
  }
  return state;
}
