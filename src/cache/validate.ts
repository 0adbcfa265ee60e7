// What is read back from a cache is data, not trusted paths: a shared cache can be written by anyone
// who shares it, and a damaged one by a bad disk. Every tree manifest, run record and ref is checked
// here before a path is built from it; a bad one is a corrupt entry (a miss for `run`, a problem for
// `verify`), never a path outside the cache or the scratch folder.
import { DIGEST } from './layout.ts';
import { lexicalLinkProblem } from './tree-links.ts';
import type { TreeManifest } from './tree-manifest.ts';

/**
 * Why `path` cannot be a path inside a tree, or undefined when it can: it must be relative,
 * normalised POSIX ("a/b", never "./a", "a//b", "a/", "a/../b", "..", "/a"), with no NUL.
 */
export function treePathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'is not a string';
  // The common case without splitting: no leading ".", no "/." (so no "." or ".." segment), no
  // empty segment, no NUL. Every manifest of 100,000 files checks 100,000 of these.
  if (
    path !== '' &&
    path.charCodeAt(0) !== SLASH &&
    path.charCodeAt(0) !== DOT &&
    path.charCodeAt(path.length - 1) !== SLASH &&
    !path.includes('/.') &&
    !path.includes('//') &&
    !path.includes('\0')
  )
    return undefined;
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  const segments = path.split('/');
  if (segments.includes('..')) return 'leaves its folder ("..")';
  // NOTE: with no "" or "." segment (and no "..", not absolute) a path is already normalised: these
  // are all posix.normalize changes, and calling it for each of 100,000 files cost a third of a run.
  if (segments.some((s) => s === '' || s === '.')) return 'is not normalised';
  return undefined;
}

const SLASH = 0x2f;
const DOT = 0x2e;

/** A tree manifest parsed from an object's bytes; throws an Error saying what is wrong with it. */
export function parseManifest(text: string): TreeManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON (${(error as Error).message})`);
  }
  const problem = manifestProblem(value);
  if (problem) throw new Error(problem);
  return value as TreeManifest;
}

/** Why a parsed value is not a valid tree manifest (see parseManifest), or undefined. */
export function manifestProblem(value: unknown): string | undefined {
  const m = value as Partial<TreeManifest> | null;
  if (!m || typeof m !== 'object' || Array.isArray(m)) return 'not a JSON object';
  if (m.format !== 1) return `format ${JSON.stringify(m.format)}, expected 1`;
  if (!Array.isArray(m.files) || !Array.isArray(m.dirs)) return 'lacks "files" or "dirs" lists';
  const files = new Set<string>();
  for (const f of m.files) {
    if (!f || typeof f !== 'object') return 'a file entry is not an object';
    const problem = treePathProblem(f.path);
    if (problem) return `file path ${JSON.stringify(f.path)} ${problem}`;
    if (typeof f.digest !== 'string' || !DIGEST.test(f.digest)) return `file "${f.path}" has no valid digest`;
    if (!Number.isSafeInteger(f.size) || f.size < 0) return `file "${f.path}" has no valid size`;
    if (f.exec !== undefined && f.exec !== true) return `file "${f.path}" has an invalid "exec"`;
    if (files.has(f.path)) return `file "${f.path}" is listed twice`;
    files.add(f.path);
  }
  const dirs = new Set<string>();
  for (const d of m.dirs) {
    // "" is the output folder itself, when a stage left it empty.
    const problem = d === '' ? undefined : treePathProblem(d);
    if (problem) return `folder path ${JSON.stringify(d)} ${problem}`;
    if (files.has(d)) return `"${d}" is listed as a file and a folder`;
    dirs.add(d);
  }
  // Links (optional: absent when a tree has none) must stay inside the tree by their text; where
  // they lead on disk is checked again when a tree is built (store.ts placeLinks).
  if (m.links !== undefined && !Array.isArray(m.links)) return '"links" is not a list';
  for (const l of m.links ?? []) {
    if (!l || typeof l !== 'object') return 'a link entry is not an object';
    const problem = treePathProblem(l.path);
    if (problem) return `link path ${JSON.stringify(l.path)} ${problem}`;
    const target = lexicalLinkProblem('', l.path, l.target);
    if (target) return `link "${l.path}" ${target}`;
    if (files.has(l.path) || dirs.has(l.path)) return `"${l.path}" is listed as a link and a file or folder`;
    files.add(l.path);
  }
  // A file cannot also be a folder that holds another entry ("a" and "a/b"). Each parent folder is
  // walked up once (a flat tree of 100,000 files has one).
  const parents = new Set<string>();
  for (const path of [...files, ...dirs]) {
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
      const parent = path.slice(0, at);
      if (files.has(parent)) return `"${parent}" is listed as a file and holds "${path}"`;
      if (parents.has(parent)) break;
      parents.add(parent);
    }
  }
  return undefined;
}

/** Fields a run record must have, with the type each must be (see record.ts). */
const RECORD_FIELDS: [string, 'string' | 'number' | 'object' | 'array'][] = [
  ['key', 'string'],
  ['description', 'object'],
  ['stage', 'string'],
  ['experiment', 'string'],
  ['params', 'object'],
  ['inputStages', 'object'],
  ['output', 'object'],
  ['metrics', 'object'],
  ['warnings', 'array'],
  ['startedAt', 'string'],
  ['seconds', 'number'],
  ['logTail', 'string'],
];

/** Why a parsed run record named `key` cannot be used, or undefined when it can. */
export function recordProblem(record: unknown, key: string): string | undefined {
  if (!record || typeof record !== 'object' || Array.isArray(record)) return 'is not a JSON object';
  const r = record as Record<string, unknown>;
  if (r.format !== 1) return `has format ${JSON.stringify(r.format)}, expected 1`;
  for (const [field, type] of RECORD_FIELDS) {
    const value = r[field];
    const ok =
      type === 'array'
        ? Array.isArray(value)
        : type === 'object'
          ? value !== null && typeof value === 'object' && !Array.isArray(value)
          : typeof value === type;
    if (!ok)
      return value === undefined
        ? `lacks the field "${field}"`
        : `has a field "${field}" that is not ${type === 'array' ? 'an' : 'a'} ${type}`;
  }
  if (r.key !== key) return `is for key ${JSON.stringify(r.key)}, but is named ${key}`;
  const output = r.output as Record<string, unknown>;
  if (typeof output.tree !== 'string' || !DIGEST.test(output.tree))
    return 'lacks a valid "output.tree" digest';
  if (typeof output.files !== 'number' || typeof output.bytes !== 'number')
    return 'lacks "output.files" or "output.bytes"';
  return undefined;
}
