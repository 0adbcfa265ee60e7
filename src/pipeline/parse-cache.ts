// Parsed spec files by content digest. YAML parsing is the largest single cost of a fully cached
// `run` (tens of ms for a 200-stage pipeline); an unchanged file is read back as JSON instead.
// Entries are keyed by the file's bytes plus the parser's identity, so a hit is always exact.
//
// An entry is two files: <name>.json holds the value, and <name>.where.json where every key and
// value starts. Only an error message needs the second, so a run without errors never reads it:
// for 5,000 stages it is three quarters of the entry (~25,000 offsets), and parsing and checking it
// was about 15 ms of every no-op.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFileSync } from '../util/file-ops.ts';
import { userCacheDir } from '../util/user-cache.ts';

/** Where every key and value of a spec starts. */
export interface Where {
  lineStarts: number[];
  /** [path joined by NUL, key offset, value offset] for every map entry and list item. */
  offsets: [string, number, number][];
}

/** What parsing a spec yields: the plain value and where everything is. */
export interface ParsedYaml extends Where {
  value: unknown;
}

/** A cache hit: the value, and the places read when first asked for (undefined if unusable by then). */
export interface CachedParse {
  value: unknown;
  where: () => Where | undefined;
}

// Bump when ParsedYaml, the entry's files or the parser's behaviour change.
const FORMAT = 'parsed-yaml-v2';

function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return userCacheDir(env, 'GPT2O_PARSE_CACHE', 'parsed');
}

function entryName(text: string, parserVersion: string): string {
  return createHash('sha256')
    .update(FORMAT)
    .update('\0')
    .update(parserVersion)
    .update('\0')
    .update(text)
    .digest('hex');
}

/**
 * The entry for `text`, or undefined on a miss. The value's file names the byte length of the
 * places' file, so a places file that is missing or cut short makes a miss now, not a wrong
 * location later.
 */
export function readParsed(text: string, parserVersion: string): CachedParse | undefined {
  const dir = cacheDir();
  if (!dir) return undefined;
  const base = join(dir, entryName(text, parserVersion));
  let entry: { value?: unknown; whereBytes?: unknown };
  try {
    entry = JSON.parse(readFileSync(`${base}.json`, 'utf8'));
    if (!entry || typeof entry !== 'object' || !('value' in entry) || !Number.isInteger(entry.whereBytes))
      return undefined;
    if (statSync(`${base}.where.json`).size !== entry.whereBytes) return undefined;
  } catch {
    return undefined; // a miss, or a damaged entry: parse again
  }
  return { value: entry.value, where: () => readWhere(`${base}.where.json`) };
}

function readWhere(path: string): Where | undefined {
  try {
    const where = JSON.parse(readFileSync(path, 'utf8'));
    return isWhere(where) ? where : undefined;
  } catch {
    return undefined;
  }
}

function isWhere(where: Where): boolean {
  return (
    typeof where === 'object' &&
    where !== null &&
    Array.isArray(where.lineStarts) &&
    where.lineStarts.every((n) => Number.isInteger(n)) &&
    Array.isArray(where.offsets) &&
    where.offsets.every(
      (e) => Array.isArray(e) && typeof e[0] === 'string' && Number.isInteger(e[1]) && Number.isInteger(e[2]),
    )
  );
}

/** Best effort: a read-only home or a full disk only costs the next run a parse. */
export function writeParsed(text: string, parserVersion: string, parsed: ParsedYaml): void {
  const dir = cacheDir();
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true });
    const base = join(dir, entryName(text, parserVersion));
    const where = JSON.stringify({ lineStarts: parsed.lineStarts, offsets: parsed.offsets });
    // The places first: a value file always names a places file that is complete.
    replaceFileSync(`${base}.where.json`, where);
    replaceFileSync(
      `${base}.json`,
      JSON.stringify({ value: parsed.value, whereBytes: Buffer.byteLength(where) }),
    );
  } catch {
    // ignore
  }
}
