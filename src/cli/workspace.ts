// From a spec file to what commands work on: the resolved spec, its graph and its cache.
import { relative, resolve } from 'node:path';
import { CacheStore } from '../cache/store.ts';
import { PipeError } from '../errors.ts';
import { buildGraph, type Graph } from '../graph/build.ts';
import { resolveSpec } from '../pipeline/resolve.ts';
import type { ResolvedSpec } from '../pipeline/types.ts';
import { suggestionHint } from '../util/did-you-mean.ts';
import { findProjectRoot } from './args.ts';
import type { CliIo } from './io.ts';

/** Cache folder: --cache, else $GPT2O_CACHE, else cache/ beside the root pipeline.yaml. */
export function cacheRoot(io: CliIo, projectRoot: string, flag: string | undefined): string {
  if (flag) return resolve(io.cwd, flag);
  if (io.env.GPT2O_CACHE) return resolve(io.cwd, io.env.GPT2O_CACHE);
  return resolve(projectRoot, 'cache');
}

/**
 * The cache of commands that take no spec (gc, verify, compare): --cache, else $GPT2O_CACHE, else
 * cache/ of the project this folder is in (never a new cache/ in a subfolder). Also returns that
 * project's root (the working folder when none is found and the cache was named).
 */
export function projectCache(io: CliIo, flag: string | undefined): { cache: string; projectRoot: string } {
  const projectRoot = findProjectRoot(io.cwd);
  if (projectRoot === undefined && !flag && !io.env.GPT2O_CACHE) {
    throw new PipeError(`no pipeline.yaml in ${resolve(io.cwd)} or any folder above it, so no cache to use`, {
      code: 'E_NO_PROJECT',
      hint: 'run this inside a project, or name the cache with --cache DIR',
    });
  }
  const root = projectRoot ?? resolve(io.cwd);
  return { cache: cacheRoot(io, root, flag), projectRoot: root };
}

export interface Workspace {
  graph: Graph;
  store: CacheStore;
  runsDir: string;
  /** The `--set` overrides it was resolved with (a Slurm job resolves it again with them). */
  sets: readonly string[];
}

export async function openWorkspace(
  io: CliIo,
  specFile: string,
  /** `write`: the command writes to the cache (checked now); `create`: make it when missing (default: write). */
  options: {
    sets?: string[];
    cache?: string;
    write?: boolean;
    create?: boolean;
    /** A sweep's variant (from its sweep record): its name and values. */
    variant?: { name: string; values: Record<string, unknown> };
  },
): Promise<Workspace> {
  const spec = await resolveSpec(resolve(io.cwd, specFile), {
    sets: options.sets,
    registry: io.registry,
    ...(options.variant ? { variant: options.variant } : {}),
  });
  return workspaceOf(io, spec, options);
}

/** The workspace of an already resolved spec (a sweep resolves its variants itself). */
export function workspaceOf(
  io: CliIo,
  spec: ResolvedSpec,
  options: { sets?: string[]; cache?: string; write?: boolean; create?: boolean },
): Workspace {
  const graph = buildGraph(spec);
  // Commands that only read (status, logs, dag) create no cache, and work on a read-only one.
  const store = CacheStore.open(cacheRoot(io, spec.projectRoot, options.cache), {
    create: options.create ?? options.write,
  });
  if (options.write) store.assertWritable();
  return { graph, store, runsDir: resolve(spec.projectRoot, 'runs'), sets: options.sets ?? [] };
}

/** Every name must be a stage of the graph (targets, --force): a typo is a usage error, not a no-op. */
export function checkStageNames(io: CliIo, graph: Graph, names: readonly string[]): void {
  for (const name of names) {
    if (!graph.stages.has(name)) {
      throw new PipeError(`no stage named "${name}" in ${relative(io.cwd, graph.spec.rootFile)}`, {
        code: 'E_USAGE_UNKNOWN_STAGE',
        hint: suggestionHint(name, graph.order, 'stages'),
      });
    }
  }
}
