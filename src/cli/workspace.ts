// From a spec file to what commands work on: the resolved spec, its graph and its cache.
import { resolve } from 'node:path';
import { CacheStore } from '../cache/store.ts';
import { buildGraph, type Graph } from '../graph/build.ts';
import { resolveSpec } from '../spec/resolve.ts';
import type { CliIo } from './io.ts';

/** Cache folder: --cache, else $GPT2O_CACHE, else cache/ beside the root pipeline.yaml. */
export function cacheRoot(io: CliIo, projectRoot: string, flag: string | undefined): string {
  if (flag) return resolve(io.cwd, flag);
  if (io.env.GPT2O_CACHE) return resolve(io.cwd, io.env.GPT2O_CACHE);
  return resolve(projectRoot, 'cache');
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
  options: { sets?: string[]; cache?: string },
): Promise<Workspace> {
  const spec = await resolveSpec(resolve(io.cwd, specFile), { sets: options.sets, registry: io.registry });
  const graph = buildGraph(spec);
  const store = CacheStore.open(cacheRoot(io, spec.projectRoot, options.cache));
  return { graph, store, runsDir: resolve(spec.projectRoot, 'runs'), sets: options.sets ?? [] };
}
