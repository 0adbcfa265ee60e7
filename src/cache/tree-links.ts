// The one rule for symbolic links inside an output tree: a link is kept (stored and served as a
// link) only when it can never lead outside the tree. Used when a stage's output is stored and
// again when a tree from the cache is materialized, since a shared cache's manifests are data.
import { realpathSync } from 'node:fs';
import { join, posix } from 'node:path';

/** A symbolic link of an output tree: where it is, and its target exactly as written. */
export interface TreeLink {
  path: string;
  target: string;
}

/**
 * Why the link at `rel` (relative to `base`, the real path of the folder it must stay in) may not
 * be kept, or undefined when it stays inside. `scope` is the link's folder relative to the root the
 * link must stay in ('' for the whole tree). A link must be relative and lexically inside; when it
 * resolves, its real path must be inside too (this catches `..` after a link to a parent folder);
 * a dangling link is kept only without `..` segments, so no later file can make it climb out.
 */
export function linkProblem(base: string, scope: string, rel: string, target: string): string | undefined {
  const lexical = lexicalLinkProblem(scope, rel, target);
  if (lexical) return lexical;
  let real: string | undefined;
  try {
    // NOTE: the native realpath: Node's JS one applies `..` lexically after a link (wrong here).
    real = realpathSync.native(join(base, rel));
  } catch {
    real = undefined;
  }
  if (real === undefined) {
    if (target.split('/').includes('..'))
      return `points at nothing, through ".." ("${target}"), so where it leads cannot be checked`;
    return undefined;
  }
  const root = realpathSync.native(scope === '' ? base : join(base, scope));
  if (real !== root && !real.startsWith(`${root}/`)) return `leads outside the output ("${target}")`;
  return undefined;
}

/** The part of linkProblem that needs no files: a relative target that stays inside by its text. */
export function lexicalLinkProblem(scope: string, rel: string, target: string): string | undefined {
  if (typeof target !== 'string' || target === '' || target.includes('\0'))
    return 'has an empty or invalid target';
  if (posix.isAbsolute(target)) return `points at an absolute path ("${target}")`;
  const lexical = posix.normalize(posix.join(posix.dirname(rel), target));
  if (!isInside(lexical, scope)) return `points outside the output ("${target}")`;
  return undefined;
}

/** `path` is `scope` or lies under it ('' is the whole tree, which excludes only `..`). */
function isInside(path: string, scope: string): boolean {
  if (path === '..' || path.startsWith('../')) return false;
  if (scope === '' || path === scope) return true;
  return path.startsWith(`${scope}/`);
}
