// Whether a folder may be used as a cache, and making an empty one a cache: the rule that keeps gc
// and verify --repair out of folders that are not theirs (a project, a home folder, /). Errors on
// the cache folder itself are messages naming it, never internal errors.
import { mkdirSync, readdirSync, readFileSync, type Stats, statSync, writeFileSync } from 'node:fs';
import { PipeError } from '../errors.ts';
import { replaceFileSync } from '../util/file-ops.ts';
import { CACHE_FORMAT, CacheLayout } from './layout.ts';

/** What is at a cache path: a cache of ours, nothing yet, or an empty folder (a fresh cache). */
export function inspectCacheFolder(root: string): 'cache' | 'missing' | 'empty' {
  let stat: Stats;
  try {
    stat = statSync(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    throw cacheAccessError(root, error);
  }
  if (!stat.isDirectory())
    throw new PipeError(`the cache path ${root} is a file, not a folder`, {
      code: 'E_CACHE_NOT_A_CACHE',
      hint: 'point --cache (or $GPT2O_CACHE) at a folder: an existing gpt2o-pipe cache, or an empty or new one',
    });
  // NOTE: list first, then read FORMAT if it is there. The other order races with a concurrent first
  // run creating this cache (FORMAT absent when read, present when listed). This way a creator that
  // is not done yet leaves the folder looking empty, and adopting it too is harmless: FORMAT is
  // renamed into place atomically with the same content, and FORMAT is never removed.
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (error) {
    throw cacheAccessError(root, error);
  }
  if (names.includes('FORMAT')) {
    let format: string;
    try {
      format = readFileSync(new CacheLayout(root).format, 'utf8').trim();
    } catch (error) {
      throw cacheAccessError(new CacheLayout(root).format, error);
    }
    if (format === CACHE_FORMAT) return 'cache';
    throw new PipeError(
      `cache ${root} has format ${/^[\x20-\x7e]{1,60}$/.test(format) ? `"${format}"` : '(unreadable text)'}, this gpt2o-pipe uses "${CACHE_FORMAT}"`,
      {
        code: 'E_CACHE_FORMAT',
        hint: 'use another --cache folder, or delete this one if it is an old gpt2o-pipe cache (it can be rebuilt)',
      },
    );
  }
  // A FORMAT.tmp-… file is what a process killed while creating this cache left behind.
  const foreign = names.filter((n) => !/^FORMAT\.tmp-\d+$/.test(n));
  if (foreign.length === 0) return 'empty';
  const shown = foreign.slice(0, 3).map((n) => JSON.stringify(n));
  throw new PipeError(
    `${root} is not a gpt2o-pipe cache: it has no FORMAT marker and is not empty (it holds ${shown.join(', ')}${foreign.length > 3 ? `, and ${foreign.length - 3} more` : ''})`,
    {
      code: 'E_CACHE_NOT_A_CACHE',
      hint: 'point --cache (or $GPT2O_CACHE) at an existing gpt2o-pipe cache, or at an empty or new folder; nothing was written to this one',
    },
  );
}

/** Makes an empty or missing folder a cache: FORMAT first (atomically), so its presence means "ours". */
export function initCacheFolder(root: string, layout: CacheLayout): void {
  try {
    mkdirSync(root, { recursive: true });
    replaceFileSync(layout.format, `${CACHE_FORMAT}\n`, layout.formatTmp(process.pid));
    // Tells backup tools (tar --exclude-caches, borg, restic) that this folder can be rebuilt.
    writeFileSync(layout.cachedirTag, 'Signature: 8a477f597d28d172789f06886806bc55\n# gpt2o-pipe cache\n');
    mkdirSync(layout.tmp, { recursive: true });
  } catch (error) {
    throw cacheAccessError(root, error);
  }
}

/** A file-system error on the cache folder itself, as a message naming it (never an internal error). */
export function cacheAccessError(path: string, error: unknown): PipeError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'EROFS'
      ? 'is on a read-only file system'
      : code === 'EACCES' || code === 'EPERM'
        ? 'is not writable (or readable) by you'
        : code === 'ENOTDIR'
          ? 'has a file where a folder should be'
          : code === 'ENOSPC' || code === 'EDQUOT'
            ? 'is on a full disk'
            : code === 'ENOENT'
              ? 'is a link to a folder that does not exist'
              : `cannot be used (${code ?? (error as Error).message})`;
  return new PipeError(`the cache ${path} ${why}`, {
    code: 'E_CACHE_UNUSABLE',
    hint: 'point --cache (or $GPT2O_CACHE) at a folder you can write, or fix its permissions',
    cause: error,
  });
}
