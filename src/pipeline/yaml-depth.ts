// How deep a spec may nest. A real spec is a few levels deep; a hostile or broken one can nest
// thousands, and the YAML parser, the loader and the cache key all walk values recursively. So
// nesting is bounded once, here, by walks that are themselves iterative (they cannot overflow).
import type { Document, Node } from 'yaml';
import type { YamlModule } from '../util/load-yaml.ts';

/** Collections nested in collections, the root counting as 1 (pipeline.yaml uses 4). */
export const MAX_YAML_DEPTH = 64;

export const DEPTH_HINT = `specs nest at most ${MAX_YAML_DEPTH} levels: flatten this value, or keep large data in a file listed in deps:`;

/** Offset of the first collection of `doc` deeper than MAX_YAML_DEPTH, or undefined. */
export function tooDeepNode(yaml: YamlModule, doc: Document): number | undefined {
  const { isMap, isPair, isSeq } = yaml;
  const stack: [unknown, number][] = [[doc.contents, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > MAX_YAML_DEPTH) return (node as Node).range?.[0] ?? 0;
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        stack.push([item.key, depth + 1]);
        stack.push([item.value, depth + 1]);
      } else stack.push([item, depth + 1]);
    }
  }
  return undefined;
}

/** Path to the first object or array of `value` deeper than MAX_YAML_DEPTH, or undefined. */
export function tooDeepPath(value: unknown): (string | number)[] | undefined {
  // Every cached run checks its whole parsed spec: depths alone first (no path arrays, no entry
  // pairs), and the path only for a value that is too deep.
  return exceedsDepth(value) ? firstTooDeepPath(value) : undefined;
}

function exceedsDepth(value: unknown): boolean {
  const nodes: unknown[] = [value];
  const depths: number[] = [0];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= MAX_YAML_DEPTH) return true;
    if (Array.isArray(node)) {
      for (const child of node) {
        if (child === null || typeof child !== 'object') continue;
        nodes.push(child);
        depths.push(depth + 1);
      }
    } else {
      for (const key in node) {
        const child = (node as Record<string, unknown>)[key];
        if (child === null || typeof child !== 'object') continue;
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

function firstTooDeepPath(value: unknown): (string | number)[] | undefined {
  const stack: [unknown, (string | number)[]][] = [[value, []]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (path.length >= MAX_YAML_DEPTH) return path;
    const entries = Array.isArray(node) ? node.map((v, i) => [i, v] as const) : Object.entries(node);
    for (const [key, child] of entries) stack.push([child, [...path, key]]);
  }
  return undefined;
}

/** Where to point when the parser itself gave up: the start of the most indented line. */
export function mostIndentedOffset(text: string): number {
  let best = 0;
  let bestIndent = -1;
  let lineStart = 0;
  while (lineStart <= text.length) {
    const end = text.indexOf('\n', lineStart);
    const lineEnd = end < 0 ? text.length : end;
    let indent = 0;
    while (lineStart + indent < lineEnd && ' -['.includes(text[lineStart + indent]!)) indent++;
    if (indent > bestIndent) {
      bestIndent = indent;
      best = lineStart + indent;
    }
    if (end < 0) break;
    lineStart = end + 1;
  }
  return best;
}

/** True for the parser's own report of running out of stack (it catches some overflows). */
export function isStackOverflow(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return (
    error instanceof RangeError ||
    (typeof message === 'string' && message.includes('Maximum call stack size exceeded'))
  );
}
