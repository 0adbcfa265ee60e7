// What an EXPERIMENT argument of `status`, `logs` and `compare` names: an experiment or pipeline
// file, or, by name, a sweep (all its variants) or one variant of a sweep (from the sweep records
// in the cache, cache/sweeps.ts).
import { resolve } from 'node:path';
import { CacheStore } from '../cache/store.ts';
import { listSweeps, type SweepRecord } from '../cache/sweeps.ts';
import { PipeError } from '../errors.ts';
import { suggestionHint } from '../util/did-you-mean.ts';
import { looksLikeSpecFile } from './args.ts';
import type { CliIo } from './io.ts';
import { projectCache } from './workspace.ts';

export interface ExperimentTarget {
  specFile: string;
  /** `--set`s it was run with (a sweep's, from its record). */
  sets: string[];
  variant?: { name: string; values: Record<string, unknown> };
}

/** Each argument as the experiments it names, and the sweeps named among them. */
export function resolveTargets(
  io: CliIo,
  args: readonly string[],
  cacheFlag: string | undefined,
): { targets: ExperimentTarget[]; sweeps: SweepRecord[] } {
  const targets: ExperimentTarget[] = [];
  const sweeps: SweepRecord[] = [];
  let known: SweepRecord[] | undefined;
  for (const arg of args) {
    if (looksLikeSpecFile(arg, io.cwd)) {
      targets.push({ specFile: resolve(io.cwd, arg), sets: [] });
      continue;
    }
    known ??= knownSweeps(io, cacheFlag);
    const sweep = known.find((s) => s.sweep === arg);
    if (sweep) {
      sweeps.push(sweep);
      targets.push(...sweep.variants.map((v) => variantTarget(sweep, v)));
      continue;
    }
    const owner = known.find((s) => s.variants.some((v) => v.name === arg));
    if (owner) {
      targets.push(variantTarget(owner, owner.variants.find((v) => v.name === arg)!));
      continue;
    }
    const names = [...known.map((s) => s.sweep), ...known.flatMap((s) => s.variants.map((v) => v.name))];
    throw new PipeError(`"${arg}" is neither a spec file nor the name of a sweep or of a sweep's variant`, {
      code: 'E_USAGE_UNKNOWN_EXPERIMENT',
      hint: `${suggestionHint(arg, names, 'sweeps and variants')}; an experiment file is named by its path (experiments/${arg}.yaml)`,
    });
  }
  return { targets, sweeps };
}

function variantTarget(sweep: SweepRecord, variant: SweepRecord['variants'][number]): ExperimentTarget {
  return { specFile: sweep.specFile, sets: sweep.sets, variant };
}

/** The sweeps recorded in this project's cache (none when there is no cache yet). */
function knownSweeps(io: CliIo, cacheFlag: string | undefined): SweepRecord[] {
  const { cache, projectRoot } = projectCache(io, cacheFlag);
  return listSweeps(CacheStore.open(cache, { create: false }), projectRoot);
}
