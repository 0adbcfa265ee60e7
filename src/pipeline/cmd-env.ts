// Renders a `cmd:` template without putting any param value into shell source: each param is
// passed as an environment variable of the command, and `${p}` becomes a double-quoted reference
// to it, which `sh` expands exactly once and never re-parses. Contexts where that cannot be done
// are refused (see shell-scan.ts).
//
// Variable names: `${train.max_lr}` → GPT2O_P_train_max_lr (every character other than a letter,
// digit or "_" becomes "_"; when two refs of one command map to the same name, the later one gets
// _2, _3, …). A list in an unquoted word becomes one variable per item (GPT2O_P_files_0, _1, …)
// and so one word per item; in "…" or a here-document it is one variable, the items joined by
// spaces. Numbers and booleans are their plain text, null is empty, mappings are JSON. Inside
// $((…)) only a whole number is accepted (the shell evaluates what it expands there).
import { type RefPlace, scanRefPlaces } from './shell-scan.ts';
import { scalarText, type TemplatePart } from './template.ts';

export interface RenderedCmd {
  /** Shell source with "${GPT2O_P_…}" where the template had refs; the same for any values. */
  cmd: string;
  /** The variables the command reads, name → value. */
  env: Record<string, string>;
}

/** Why one ref of a template cannot be rendered. */
export interface CmdProblem {
  ref: string;
  message: string;
  hint: string;
}

export const PARAM_ENV_PREFIX = 'GPT2O_P_';

// Linux refuses to start a program with one environment string over 128 KiB (MAX_ARG_STRLEN);
// refuse such a value at load, with its place, rather than as a failed exec at run time.
const MAX_ENV_VALUE_BYTES = 128 * 1024 - 256;

/** Renders a parsed `cmd:` template; `lookup` resolves (and records) a ref's value. */
export function renderCmd(
  parts: readonly TemplatePart[],
  lookup: (ref: string) => unknown,
): { rendered: RenderedCmd; problems: CmdProblem[] } {
  const problems: CmdProblem[] = [];
  const text = parts.map((p) => ('text' in p ? p.text : '')).join('');
  if (text.includes('\0')) {
    problems.push({
      ref: '',
      message: 'cmd contains a NUL character, which no shell command can carry',
      hint: 'remove the \\0 from the command',
    });
    return { rendered: { cmd: '', env: {} }, problems };
  }
  // Most commands have no ${} at all: nothing to place, so the shell scan is skipped.
  if (!parts.some((p) => !('text' in p))) return { rendered: { cmd: text, env: {} }, problems };
  const places = scanRefPlaces(parts);
  const names = new NameAllocator();
  const env: Record<string, string> = {};
  const variable = (key: string, base: string, value: string): string => {
    const name = names.get(key, base);
    env[name] = value;
    return name;
  };
  let cmd = '';
  let refIndex = 0;
  for (const part of parts) {
    if ('text' in part) {
      cmd += part.text;
      continue;
    }
    const rendered = renderRef(part.ref, places[refIndex++]!, lookup(part.ref), variable);
    if ('problem' in rendered) problems.push(rendered.problem);
    else cmd += rendered.text;
  }
  return { rendered: { cmd, env }, problems };
}

/**
 * What one `${ref}` becomes in the command: a quoted reference to the variable that carries its
 * value (a list as a bare word: one quoted variable per item), or why it cannot be carried there.
 */
function renderRef(
  ref: string,
  place: RefPlace,
  value: unknown,
  variable: (key: string, base: string, value: string) => string,
): { text: string } | { problem: CmdProblem } {
  if (place.kind === 'refused' || (place.kind === 'arith' && !Number.isSafeInteger(value))) {
    const what =
      place.kind === 'arith' ? `, and its value ${JSON.stringify(value)} is not a whole number` : '';
    return { problem: { ref, message: `\${${ref}} is ${place.context}${what}`, hint: place.hint } };
  }
  const bad = unusable(value);
  if (bad) return { problem: { ref, message: `the value of \${${ref}} ${bad.why}`, hint: bad.hint } };
  if (place.kind === 'word' && Array.isArray(value)) {
    const items = value.map(
      (item, i) => `"\${${variable(`${ref}\0${i}`, `${ref}_${i}`, scalarText(item))}}"`,
    );
    return { text: items.join(' ') };
  }
  const text = Array.isArray(value) ? value.map(scalarText).join(' ') : scalarText(value);
  const name = variable(ref, ref, text);
  // In "…", a here-document or $((…)) the expansion is already one piece of text; a bare word
  // needs the quotes (no field splitting, no globbing).
  return { text: place.kind === 'word' ? `"\${${name}}"` : `\${${name}}` };
}

/** Why a value cannot travel in the environment, or undefined. */
function unusable(value: unknown): { why: string; hint: string } | undefined {
  const texts = Array.isArray(value) ? value.map(scalarText) : [scalarText(value)];
  for (const text of texts) {
    if (text.includes('\0')) {
      return {
        why: 'contains a NUL character, which a command cannot be given',
        hint: 'remove the \\0 from the value',
      };
    }
    if (Buffer.byteLength(text) > MAX_ENV_VALUE_BYTES) {
      return {
        why: `is ${Buffer.byteLength(text)} bytes, more than one environment variable may hold (${MAX_ENV_VALUE_BYTES})`,
        hint: 'write the value to a file, list it in deps:, and pass its path instead',
      };
    }
    // With the u flag a well-formed pair is one code point: only a lone surrogate matches.
    if (/[\uD800-\uDFFF]/u.test(text)) {
      return {
        why: 'is not valid Unicode (a lone surrogate), so it has no exact bytes',
        hint: 'write the character itself, or a full surrogate pair',
      };
    }
  }
  return undefined;
}

/** Stable, collision-free variable names, in order of first use. */
class NameAllocator {
  private readonly byKey = new Map<string, string>();
  private readonly used = new Set<string>();

  get(key: string, base: string): string {
    const known = this.byKey.get(key);
    if (known) return known;
    const stem = PARAM_ENV_PREFIX + base.replace(/[^A-Za-z0-9_]/g, '_');
    let name = stem;
    for (let n = 2; this.used.has(name); n++) name = `${stem}_${n}`;
    this.used.add(name);
    this.byKey.set(key, name);
    return name;
  }
}
