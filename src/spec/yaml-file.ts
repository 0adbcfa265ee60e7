// Reads one YAML spec file and keeps what is needed to point errors at `file:line:col`.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { type Loc, PipeError } from '../errors.ts';

/** A parsed spec file: its plain value plus the document, to map paths back to places. */
export interface YamlFile {
  path: string;
  text: string;
  value: unknown;
  locate(path: readonly (string | number)[], at?: 'key' | 'value'): Loc;
}

let displayRoot = process.cwd();

/** Sets the folder paths in messages are shown relative to (the CLI's working folder). */
export function setDisplayRoot(dir: string): void {
  displayRoot = dir;
}

/** Shows paths relative to where the user stands, as compilers do. */
export function displayPath(path: string): string {
  const rel = relative(displayRoot, path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

/** Parses a YAML file; syntax errors (including duplicate keys) become located PipeErrors. */
export function readYamlFile(path: string): YamlFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new PipeError(`cannot read spec file ${displayPath(path)}${missing ? ': no such file' : ''}`, {
      code: missing ? 'E_SPEC_NOT_FOUND' : 'E_SPEC_READ',
      hint: missing ? 'check the path; experiments live in experiments/*.yaml' : undefined,
      cause,
    });
  }
  return parseYamlText(path, text);
}

/** Parses YAML text that came from `path` (split out so tests and generators can feed text). */
export function parseYamlText(path: string, text: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const toLoc = (offset: number): Loc => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: path, line, col };
  };
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const duplicate = first.code === 'DUPLICATE_KEY';
    const loc = toLoc(first.pos[0]);
    const lineText = text.split(/\r?\n/)[loc.line - 1] ?? '';
    throw new PipeError(
      duplicate
        ? `duplicate key ${JSON.stringify(text.slice(first.pos[0], first.pos[1]))}`
        : `YAML syntax error: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      {
        code: duplicate ? 'E_SPEC_DUPLICATE_KEY' : 'E_SPEC_YAML',
        loc: toLoc(first.pos[0]),
        hint: duplicate
          ? 'each key (and each stage name) may appear once in a mapping; rename or merge the two'
          : 'fix the YAML syntax at this place (indentation, a missing ":" or an unclosed quote are common causes)',
      },
    );
  }
  return {
    path,
    text,
    value: doc.toJS({ maxAliasCount: 100 }),
    locate: (keyPath, at = 'value') => toLoc(findOffset(doc, keyPath, at)),
  };
}

/** Walks the document along keyPath; stops at the deepest node that exists (like DVC's determine_linecol). */
function findOffset(doc: Document, keyPath: readonly (string | number)[], at: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const [i, segment] of keyPath.entries()) {
    const last = i === keyPath.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
      );
      if (!pair) break;
      const keyNode = pair.key as Node;
      const valueNode = pair.value as Node | null;
      if (last && at === 'key') return keyNode.range?.[0] ?? offset;
      offset = valueNode?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      node = valueNode;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}
