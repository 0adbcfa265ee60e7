// The stage key: a digest of everything that can change a stage's outputs (Bazel's Action digest).
// Upstream stages enter by their output tree digest (or that of the part a built-in stage reads),
// not their key, so an upstream rerun that produces identical bytes leaves its dependents cached
// (early cutoff).
import { isAbsolute, join, posix } from 'node:path';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import type { Graph } from '../graph/build.ts';
import type { PathDecl, ResolvedStage } from '../pipeline/types.ts';
import { readLinkOrUndefined } from '../util/file-ops.ts';
import { canonicalJson } from './canonical.ts';
import { hashBytes } from './hash.ts';
import { CACHE_FORMAT } from './layout.ts';
import type { KeyDescription } from './record.ts';
import type { CacheStore } from './store.ts';
import type { TreeManifest } from './tree-manifest.ts';
import { digestProjectPath } from './tree-snapshot.ts';
import { TreeEntryError } from './tree-walk.ts';

/** Slot → upstream stage name, for every upstream a stage reads. */
export function inputSlots(stage: ResolvedStage, graph: Graph): Record<string, string> {
  const slots: Record<string, string> = {};
  for (const need of stage.needs) slots[need.slot] = need.stage;
  for (const produced of graph.producedDeps.get(stage.name) ?? []) slots[produced.stage] ??= produced.stage;
  return slots;
}

/**
 * The part of an upstream output tree that a slot reads: the whole tree, or the files a built-in
 * stage declares in `reads` (a tree of its own, with its own digest). With `put`, the narrowed
 * manifest is stored so that it can be materialized (gc may drop it later: it is put again before
 * each use); without, only its digest is computed (keys, status).
 */
export async function slotTree(
  stage: ResolvedStage,
  slot: string,
  tree: string,
  store: CacheStore,
  options: { put: boolean },
): Promise<string> {
  const patterns = stage.kind === 'uses' ? stage.definition.reads?.[slot] : undefined;
  if (!patterns) return tree;
  const manifest = store.readManifest(tree);
  const narrowed: TreeManifest = {
    format: manifest.format,
    files: manifest.files.filter((f) => patterns.some((p) => matchesRead(f.path, p))),
    dirs: manifest.dirs.filter((d) => patterns.some((p) => matchesRead(d, p))),
  };
  const links = manifest.links?.filter((l) => patterns.some((p) => matchesRead(l.path, p)));
  if (links?.length) narrowed.links = links;
  return options.put ? store.putManifest(narrowed) : hashBytes(canonicalJson(narrowed));
}

/** `path` is `pattern`, lies under it (a folder), or starts with it before a trailing `*`. */
function matchesRead(path: string, pattern: string): boolean {
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  const folder = pattern.endsWith('/') ? pattern : `${pattern}/`;
  return path === pattern || path.startsWith(folder);
}

/**
 * Describes a stage for hashing, given the output trees of its upstream stages. With `pendingJobs`
 * (upstream stage → the Slurm job computing it), an upstream whose output does not exist yet enters
 * by its job instead: the description of a stage submitted before its key is known (its submission
 * fingerprint, run/slurm/ahead.ts); no real key has such an input.
 */
export async function describeStage(
  stage: ResolvedStage,
  graph: Graph,
  upstreamTrees: ReadonlyMap<string, string>,
  store: CacheStore,
  pendingJobs?: ReadonlyMap<string, string>,
): Promise<KeyDescription> {
  const inputs: Record<string, string> = {};
  for (const [slot, upstream] of Object.entries(inputSlots(stage, graph))) {
    const job = pendingJobs?.get(upstream);
    if (job !== undefined) {
      inputs[slot] = `slurm-job:${job}`;
      continue;
    }
    const tree = upstreamTrees.get(upstream);
    if (!tree) throw new Error(`internal: output of "${upstream}" unknown while keying "${stage.name}"`);
    inputs[slot] = await slotTree(stage, slot, tree, store, { put: false });
  }
  if (stage.kind === 'uses') {
    return {
      salt: CACHE_FORMAT,
      kind: 'uses',
      identity: { uses: stage.uses, version: stage.definition.version },
      with: keyedWith(stage.with, stage.definition.keyless),
      deps: await digestDeps(stage, stage.deps, graph, store),
      inputs,
    };
  }
  const produced = new Set((graph.producedDeps.get(stage.name) ?? []).map((p) => p.dep));
  return {
    salt: CACHE_FORMAT,
    kind: 'cmd',
    // env only when there is one: a command without params keeps the key it always had.
    identity: Object.keys(stage.env).length > 0 ? { cmd: stage.cmd, env: stage.env } : { cmd: stage.cmd },
    deps: await digestDeps(
      stage,
      stage.deps.filter((d) => !produced.has(d.path)),
      graph,
      store,
    ),
    inputs,
    outs: stage.outs.map((o) => o.path).sort(),
  };
}

/** A built-in stage's `with:` values without the ones it declares keyless. */
function keyedWith(values: Record<string, unknown>, keyless: readonly string[] | undefined) {
  if (!keyless) return values;
  return Object.fromEntries(Object.entries(values).filter(([name]) => !keyless.includes(name)));
}

/** Absolute path of a dep: relative paths are relative to the project root. */
export function depPath(graph: Graph, path: string): string {
  return isAbsolute(path) ? path : join(graph.spec.projectRoot, path);
}

/** Content digests of project files a stage reads; a missing one fails the stage with its location. */
async function digestDeps(stage: ResolvedStage, decls: readonly PathDecl[], graph: Graph, store: CacheStore) {
  const deps: Record<string, string> = {};
  for (const dep of decls) {
    try {
      deps[dep.path] = await digestProjectPath(store, depPath(graph, dep.path));
    } catch (cause) {
      throw depError(stage, graph, dep, cause);
    }
  }
  return deps;
}

/**
 * Why a dep cannot be digested: the dep itself is missing, or one entry inside a dep folder is
 * wrong (a broken link, a name that is not UTF-8, no permission), named with its path.
 */
function depError(stage: ResolvedStage, graph: Graph, dep: PathDecl, cause: unknown): PipeError {
  const base = { loc: dep.loc, stage: stage.name, exitCode: EXIT_STAGE_FAILED, cause };
  if (cause instanceof TreeEntryError)
    return new PipeError(
      `dep "${dep.path}" of stage "${stage.name}": ${JSON.stringify(posix.join(dep.path, cause.path))} ${cause.problem}`,
      { ...base, code: 'E_DEP_READ', hint: 'fix or remove that entry of the dep folder' },
    );
  const target = readLinkOrUndefined(depPath(graph, dep.path));
  if ((cause as NodeJS.ErrnoException).code === 'ENOENT' && target !== undefined)
    return new PipeError(
      `dep "${dep.path}" of stage "${stage.name}" is a broken symbolic link (to "${target}")`,
      {
        ...base,
        code: 'E_DEP_MISSING',
        hint: 'create what it points at, or fix the link',
      },
    );
  if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
    return new PipeError(`dep "${dep.path}" of stage "${stage.name}" does not exist`, {
      ...base,
      code: 'E_DEP_MISSING',
      hint:
        stage.kind === 'cmd'
          ? 'create it, fix the path in deps:, or let a stage produce it in its outs:'
          : `built-in stage "${stage.uses}" reads it because of its with: values; check the path (relative paths are relative to the folder of pipeline.yaml)`,
    });
  return new PipeError(`dep "${dep.path}" of stage "${stage.name}" cannot be read`, {
    ...base,
    code: 'E_DEP_READ',
    hint: String((cause as Error)?.message ?? cause),
  });
}

/** The key of a description. */
export function keyOf(description: KeyDescription): Promise<string> {
  return hashBytes(canonicalJson(description));
}
