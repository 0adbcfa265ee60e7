// `${a.b.c}` templates: parsing, and rendering a value as text. `cmd:` templates are rendered by
// cmd-env.ts, which never puts a value into shell source.

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
