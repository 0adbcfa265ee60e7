// The `include:` filter: globs matched against a file's path inside its source (zip, folder, dataset),
// compiled once with picomatch, and the error that shows what a source held when nothing matched.
import picomatch from 'picomatch';
import { StageError } from '../../src/stage-api/index.ts';

/** A compiled include list. */
export interface Include {
  test(path: string): boolean;
  readonly globs: readonly string[];
}

const SHOWN_NAMES = 5;

/** Compiles globs; case-insensitive (".MP3" is still mp3), dot-files (macOS "._x.mp3") excluded. */
export function compileInclude(globs: readonly string[]): Include {
  const match = picomatch([...globs], { nocase: true, dot: false });
  return { test: (path) => match(path), globs };
}

/**
 * The entries of a source (a zip, a folder, a dataset) whose path `include` matches; none is the
 * user's error, naming the source and listing what it held.
 */
export function selectIncluded<T extends { path: string }>(
  where: string,
  include: Include,
  entries: readonly T[],
): T[] {
  const selected = entries.filter((e) => include.test(e.path));
  if (selected.length === 0)
    throw noMatchError(
      where,
      include,
      entries.map((e) => e.path),
    );
  return selected;
}

/** The error for a source with no file matching `include`, listing the first few it did have. */
function noMatchError(where: string, include: Include, names: readonly string[]): StageError {
  const shown = names.slice(0, SHOWN_NAMES).join(', ');
  const more = names.length > SHOWN_NAMES ? ` and ${names.length - SHOWN_NAMES} more` : '';
  const contents = names.length === 0 ? 'no files at all' : `${shown}${more}`;
  return new StageError(
    `${where} has no file matching include ${JSON.stringify(include.globs)}; it has ${contents}`,
    {
      hint: 'set include: to globs that match the audio files in it, e.g. ["**/*.mp3"]',
    },
  );
}
