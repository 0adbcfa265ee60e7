// Where things are in a spec file: every key's and value's offset by path (indexed once per
// file), offsets as `file:line:col`, and places worked out only when a message reads them.
import type { Document, Node } from 'yaml';
import type { Loc } from '../errors.ts';
import type { YamlModule } from '../util/load-yaml.ts';

/**
 * A place that is worked out when a message first reads its line or column. Resolving a spec
 * locates every stage, dep and out, and only errors look: a fully cached run of 5,000 stages used
 * to index ~30,000 offsets and search line starts for each, about 4 % of its time.
 */
export class LazyLoc implements Loc {
  private where: Loc | undefined;

  constructor(
    readonly file: string,
    private readonly keyPath: readonly (string | number)[],
    private readonly at: 'key' | 'value',
    private readonly place: (keyPath: readonly (string | number)[], at: 'key' | 'value') => Loc,
  ) {}

  get line(): number {
    this.where ??= this.place(this.keyPath, this.at);
    return this.where.line;
  }

  get col(): number {
    this.where ??= this.place(this.keyPath, this.at);
    return this.where.col;
  }

  /** As a plain place wherever a Loc is serialized. */
  toJSON(): Loc {
    return { file: this.file, line: this.line, col: this.col };
  }
}

export function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** 1-based line and column of an offset (binary search over line starts, like LineCounter). */
export function toLoc(file: string, lineStarts: readonly number[], offset: number): Loc {
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (lineStarts[mid]! <= offset) low = mid;
    else high = mid - 1;
  }
  return { file, line: low + 1, col: offset - (lineStarts[low] ?? 0) + 1 };
}

/** Offsets of every key and value in the document, by path (segments joined by NUL). */
export function indexOffsets(yaml: YamlModule, doc: Document): [string, number, number][] {
  const { isMap, isPair, isScalar, isSeq } = yaml;
  const root = (doc.contents as Node | null)?.range?.[0] ?? 0;
  const out: [string, number, number][] = [['', root, root]];
  const visit = (node: unknown, path: string, fallback: number) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const keyNode = pair.key as Node;
        const valueNode = pair.value as Node | null;
        const key = keyNode.range?.[0] ?? fallback;
        const child = path === '' ? String(pair.key.value) : `${path}\u0000${String(pair.key.value)}`;
        const value = valueNode?.range?.[0] ?? key;
        out.push([child, key, value]);
        visit(valueNode, child, value);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const offset = (item as Node | null)?.range?.[0] ?? fallback;
        const child = path === '' ? String(i) : `${path}\u0000${i}`;
        out.push([child, offset, offset]);
        visit(item, child, offset);
      });
    }
  };
  visit(doc.contents, '', root);
  return out;
}

export type OffsetEntry = [path: string, key: number, value: number];

/** Entries by path, each kept as it is (a spec of 5,000 stages has ~30,000: no copies per run). */
export function indexByPath(entries: readonly OffsetEntry[]): Map<string, OffsetEntry> {
  const index = new Map<string, OffsetEntry>();
  for (const entry of entries) index.set(entry[0], entry);
  return index;
}

/** The deepest existing node along keyPath (like DVC's determine_linecol, which walks up to a parent). */
export function findOffset(
  index: Map<string, OffsetEntry>,
  keyPath: readonly (string | number)[],
  at: 'key' | 'value',
): number {
  // The whole path is almost always there (errors point at what exists): look it up first.
  const whole = index.get(keyPath.join('\u0000'));
  if (whole) return at === 'key' ? whole[1] : whole[2];
  for (let depth = keyPath.length - 1; depth >= 0; depth--) {
    const hit = index.get(keyPath.slice(0, depth).join('\u0000'));
    if (hit) return hit[2];
  }
  return 0;
}
