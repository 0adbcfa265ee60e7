// Reads one YAML spec file and keeps what is needed to point errors at `file:line:col`
// (yaml-places.ts works the places out).
import { readFileSync } from 'node:fs';
import type { Document, Node } from 'yaml';
import YAML_PACKAGE from 'yaml/package.json' with { type: 'json' };
import { type Loc, PipeError } from '../errors.ts';
import { loadYaml, type YamlModule } from '../util/load-yaml.ts';
import { type CachedParse, type ParsedYaml, readParsed, writeParsed } from './parse-cache.ts';
import {
  DEPTH_HINT,
  isStackOverflow,
  MAX_YAML_DEPTH,
  mostIndentedOffset,
  tooDeepNode,
  tooDeepPath,
} from './yaml-depth.ts';
import {
  findOffset,
  indexByPath,
  indexOffsets,
  LazyLoc,
  lineStartsOf,
  type OffsetEntry,
  toLoc,
} from './yaml-places.ts';

/** A parsed spec file: its plain value plus the document, to map paths back to places. */
export interface YamlFile {
  path: string;
  text: string;
  value: unknown;
  locate(path: readonly (string | number)[], at?: 'key' | 'value'): Loc;
}

/** Parses a YAML file; syntax errors (including duplicate keys) become located PipeErrors. */
export async function readYamlFile(path: string): Promise<YamlFile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new PipeError(`cannot read spec file ${path}${missing ? ': no such file' : ''}`, {
      code: missing ? 'E_SPEC_NOT_FOUND' : 'E_SPEC_READ',
      hint: missing ? 'check the path; experiments live in experiments/*.yaml' : undefined,
      cause,
      paths: [path],
    });
  }
  return parseYamlText(path, text);
}

/** Parses YAML text that came from `path`; unchanged files come from the parse cache. */
export async function parseYamlText(path: string, text: string): Promise<YamlFile> {
  let parsed: CachedParse | undefined = readParsed(text, PARSER_ID);
  // An entry is data from disk: one whose value is nested deeper than parseFresh allows is a miss.
  if (parsed && tooDeepPath(parsed.value) !== undefined) parsed = undefined;
  if (!parsed) {
    const fresh = await parseFresh(path, text);
    // JSON cannot hold every YAML value (.inf, .nan, dates, binary): such files are not cached,
    // so a second run sees exactly what the first did.
    if (isJsonValue(fresh.value)) writeParsed(text, PARSER_ID, fresh);
    parsed = { value: fresh.value, where: () => fresh };
  }
  const { where } = parsed;
  let offsets: Map<string, OffsetEntry> | undefined;
  let lineStarts: readonly number[] = [0];
  const place = (keyPath: readonly (string | number)[], at: 'key' | 'value') => {
    if (!offsets) {
      // NOTE: a places file damaged after the hit was checked (same length, other bytes) leaves
      // only the file to point at: line 1. Every other miss was caught by readParsed.
      const known = where();
      offsets = indexByPath(known?.offsets ?? []);
      lineStarts = known?.lineStarts ?? [0];
    }
    return toLoc(path, lineStarts, findOffset(offsets, keyPath, at));
  };
  return {
    path,
    text,
    value: parsed.value,
    locate: (keyPath, at = 'value') => new LazyLoc(path, keyPath, at, place),
  };
}

// The parser's identity enters the parse-cache key: another yaml version may parse differently.
const PARSER_ID = `yaml@${YAML_PACKAGE.version}`;

/** The YAML library loads only on a parse-cache miss: on a hit, a cached run never pays for it. */
async function parseFresh(path: string, text: string): Promise<ParsedYaml> {
  const yaml = await loadYaml();
  const { LineCounter, parseDocument } = yaml;
  const lineCounter = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  } catch (error) {
    if (!isStackOverflow(error)) throw error;
    throw depthError(path, text, mostIndentedOffset(text));
  }
  if (doc.errors.length > 0) throw syntaxError(yaml, doc, path, text, lineCounter.lineStarts);
  const deepNode = tooDeepNode(yaml, doc);
  if (deepNode !== undefined) throw depthError(path, text, deepNode);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (cause) {
    // An alias without its anchor, or an alias bomb: the parser accepts them, conversion does not.
    const alias = /alias[^:]*: *(\S+)/i.exec((cause as Error).message)?.[1];
    const at = alias ? text.indexOf(`*${alias}`) : text.indexOf('*');
    throw new PipeError(`YAML error: ${(cause as Error).message.split('\n')[0]}`, {
      code: 'E_SPEC_YAML',
      loc: toLoc(path, lineCounter.lineStarts, Math.max(0, at)),
      hint: 'define each &anchor before its *alias, and do not nest aliases to blow up the document',
      cause,
    });
  }
  if (isCircular(value)) {
    // `a: &x {b: *x}`: legal YAML, but a spec is a tree; following it would never end.
    throw new PipeError('YAML error: an alias refers to a node that contains it (a cycle)', {
      code: 'E_SPEC_YAML',
      loc: toLoc(path, lineCounter.lineStarts, Math.max(0, text.indexOf('*'))),
      hint: 'a spec must be a tree: replace the alias by a copy of what it should hold',
    });
  }
  const offsets = indexOffsets(yaml, doc);
  const deepPath = tooDeepPath(value);
  if (deepPath) {
    // Aliases can stack shallow pieces into a deep value.
    throw depthError(path, text, findOffset(indexByPath(offsets), deepPath, 'value'));
  }
  return { value, lineStarts: lineCounter.lineStarts, offsets };
}

/** The first syntax error of a document (a duplicate key, a nesting too deep, or bad YAML), located. */
function syntaxError(
  yaml: YamlModule,
  doc: Document,
  path: string,
  text: string,
  lineStarts: number[],
): PipeError {
  const first = doc.errors[0]!;
  if (isStackOverflow(first)) return depthError(path, text, first.pos[0]);
  const duplicate = first.code === 'DUPLICATE_KEY';
  const loc = toLoc(path, lineStarts, first.pos[0]);
  const lineText = text.split(/\r?\n/)[loc.line - 1] ?? '';
  return new PipeError(
    duplicate
      ? `duplicate key ${JSON.stringify(duplicateKeyAt(yaml, doc, first.pos[0]) ?? text.slice(first.pos[0], first.pos[1]))}`
      : `YAML syntax error: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    {
      code: duplicate ? 'E_SPEC_DUPLICATE_KEY' : 'E_SPEC_YAML',
      loc,
      hint: duplicate
        ? 'each key (and each stage name) may appear once in a mapping; rename or merge the two'
        : /\{[^}]*\$\{/.test(lineText)
          ? 'inside a {flow: mapping} YAML reads "{" as syntax: quote the value ("${a.b}") or use block style'
          : 'fix the YAML syntax at this place (indentation, a missing ":" or an unclosed quote are common causes)',
    },
  );
}

function depthError(path: string, text: string, offset: number): PipeError {
  return new PipeError(`the spec nests deeper than ${MAX_YAML_DEPTH} levels`, {
    code: 'E_SPEC_DEPTH',
    loc: toLoc(path, lineStartsOf(text), offset),
    hint: DEPTH_HINT,
  });
}

/** The full text of the duplicated key the parser reports at `offset` (it gives one character). */
function duplicateKeyAt(yaml: YamlModule, doc: Document, offset: number): string | undefined {
  const { isMap, isPair, isScalar, isSeq } = yaml;
  const stack: unknown[] = [doc.contents];
  let first: string | undefined;
  while (stack.length > 0) {
    const node = stack.pop();
    if (isSeq(node)) stack.push(...node.items);
    if (!isMap(node)) continue;
    const seen = new Set<string>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      stack.push(pair.value);
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined) continue;
      if (seen.has(key)) {
        if ((pair.key as Node).range?.[0] === offset) return key;
        first ??= key;
      }
      seen.add(key);
    }
  }
  return first;
}

/** True when `value` survives JSON.stringify/parse unchanged (plain data, finite numbers). */
function isJsonValue(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    return (proto === Object.prototype || proto === null) && Object.values(value).every(isJsonValue);
  }
  return false;
}

/** True when an object contains itself (a YAML alias to an ancestor). */
function isCircular(value: unknown, ancestors = new Set<object>()): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (ancestors.has(value)) return true;
  ancestors.add(value);
  const children = value instanceof Map ? [...value.values()] : Object.values(value);
  const found = children.some((child) => isCircular(child, ancestors));
  ancestors.delete(value);
  return found;
}
