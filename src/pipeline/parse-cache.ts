// Parsed spec files by content digest. YAML parsing is the largest single cost of a fully cached
// `run` (tens of ms for a 200-stage pipeline); an unchanged file is read back as JSON instead.
// Entries are keyed by the file's bytes plus the parser's identity, so a hit is always exact.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What parsing a spec yields: the plain value and where every key and value starts. */
export interface ParsedYaml {
  value: unknown;
  lineStarts: number[];
  /** [path joined by NUL, key offset, value offset] for every map entry and list item. */
  offsets: [string, number, number][];
}

// Bump when ParsedYaml or the parser's behaviour changes.
const FORMAT = 'parsed-yaml-v1';

function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.GPT2O_PARSE_CACHE === 'off') return undefined;
  if (env.GPT2O_PARSE_CACHE) return env.GPT2O_PARSE_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gpt2o-pipe', 'parsed');
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

export function readParsed(text: string, parserVersion: string): ParsedYaml | undefined {
  const dir = cacheDir();
  if (!dir) return undefined;
  try {
    return JSON.parse(
      readFileSync(join(dir, `${entryName(text, parserVersion)}.json`), 'utf8'),
    ) as ParsedYaml;
  } catch {
    return undefined; // a miss, or a damaged entry: parse again
  }
}

/** Best effort: a read-only home or a full disk only costs the next run a parse. */
export function writeParsed(text: string, parserVersion: string, parsed: ParsedYaml): void {
  const dir = cacheDir();
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true });
    const target = join(dir, `${entryName(text, parserVersion)}.json`);
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(parsed));
    renameSync(tmp, target);
  } catch {
    // ignore
  }
}
