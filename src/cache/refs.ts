// Each experiment's latest run: stage name → key and output tree. `status` diffs against it,
// `gc` keeps what any ref points to. Refs are named by the experiment file's absolute path.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { replaceFileSync } from '../util/file-ops.ts';
import { DIGEST, NAMES } from './layout.ts';
import type { CacheStore } from './store.ts';

export interface StageRef {
  key: string;
  tree: string;
}

export interface ExperimentRef {
  specFile: string;
  experiment: string;
  /** Set for a sweep's variant (then equal to `experiment`): one spec file, many refs. */
  variant?: string;
  projectRoot: string;
  updatedAt: string;
  stages: Record<string, StageRef>;
}

/** A ref's file name: the spec file's path, and for a sweep's variant its name too. */
export function refId(specFile: string, variant?: string): string {
  const subject = variant === undefined ? specFile : `${specFile}\0${variant}`;
  return createHash('sha1').update(subject).digest('hex').slice(0, 20);
}

/** What names the ref of a resolved experiment (see ResolvedSpec.variant). */
export function refVariant(spec: { experiment: string; variant?: unknown }): string | undefined {
  return spec.variant === undefined ? undefined : spec.experiment;
}

/** An experiment's ref, or undefined when it has none or it is unusable (`verify` reports those). */
export function readRef(store: CacheStore, specFile: string, variant?: string): ExperimentRef | undefined {
  const found = readRefFile(store.layout.ref(refId(specFile, variant)));
  return 'ref' in found ? found.ref : undefined;
}

/** A ref file, validated: its ref, or why it cannot be used (a missing file is `{}`). */
export function readRefFile(
  path: string,
): { ref: ExperimentRef } | { problem: string } | Record<never, never> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? {} : { problem: `cannot be read (${code ?? (error as Error).message})` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'is not valid JSON' };
  }
  const problem = refProblem(value);
  return problem ? { problem } : { ref: value as ExperimentRef };
}

/** Why a parsed ref cannot be used, or undefined: fields of the right types, stage keys and trees are digests. */
export function refProblem(value: unknown): string | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return 'is not a JSON object';
  const ref = value as Record<string, unknown>;
  for (const field of ['specFile', 'experiment', 'projectRoot', 'updatedAt'])
    if (typeof ref[field] !== 'string') return `lacks the text field "${field}"`;
  if (!isAbsolute(ref.specFile as string) || (ref.specFile as string).includes('\0'))
    return 'has a "specFile" that is not an absolute path';
  if (ref.variant !== undefined && (typeof ref.variant !== 'string' || ref.variant !== ref.experiment))
    return 'has a "variant" that is not its experiment\'s name';
  const stages = ref.stages;
  if (!stages || typeof stages !== 'object' || Array.isArray(stages)) return 'lacks the "stages" object';
  for (const [name, stage] of Object.entries(stages)) {
    const s = stage as Partial<StageRef> | null;
    if (
      typeof s?.key !== 'string' ||
      !DIGEST.test(s.key) ||
      typeof s.tree !== 'string' ||
      !DIGEST.test(s.tree)
    )
      return `has stage "${name}" without a valid key and tree digest`;
  }
  return undefined;
}

/** Records the stages of this run on top of the experiment's previous ref (a partial run keeps the rest). */
export function updateRef(
  store: CacheStore,
  base: Omit<ExperimentRef, 'stages' | 'updatedAt'>,
  stages: Record<string, StageRef>,
  keep: readonly string[],
): void {
  const before = readRef(store, base.specFile, base.variant);
  const previous = before?.stages ?? {};
  const merged: Record<string, StageRef> = {};
  for (const name of keep) {
    const ref = stages[name] ?? previous[name];
    if (ref) merged[name] = ref;
  }
  // A fully cached run changes nothing: skip the write (and keep updatedAt meaning "last change").
  if (
    before &&
    before.projectRoot === base.projectRoot &&
    JSON.stringify(before.stages) === JSON.stringify(merged)
  )
    return;
  const ref: ExperimentRef = { ...base, updatedAt: new Date().toISOString(), stages: merged };
  const path = store.layout.ref(refId(base.specFile, base.variant));
  mkdirSync(dirname(path), { recursive: true });
  const tmp = store.tmpName('ref');
  mkdirSync(dirname(tmp), { recursive: true });
  replaceFileSync(path, `${JSON.stringify(ref, null, 2)}\n`, tmp);
}

/** The usable refs (unusable ones are skipped: see listRefFiles). */
export function listRefs(store: CacheStore): { path: string; ref: ExperimentRef }[] {
  return listRefFiles(store).flatMap((r) => ('ref' in r ? [r] : []));
}

/** Every ref file (named as the store names them), with its ref or why it is unusable. */
export type RefFile = { path: string; ref: ExperimentRef } | { path: string; problem: string };

export function listRefFiles(store: CacheStore): RefFile[] {
  const dir = store.layout.dir('refs');
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names
    .filter((n) => NAMES.ref.test(n))
    .flatMap((n): RefFile[] => {
      const path = join(dir, n);
      const found = readRefFile(path);
      return 'ref' in found
        ? [{ path, ref: found.ref }]
        : 'problem' in found
          ? [{ path, problem: found.problem }]
          : [];
    });
}

/** Rewrites a ref without `stages` (verify --repair: they name results that are gone). */
export function dropRefStages(store: CacheStore, path: string, stages: readonly string[]): void {
  const found = readRefFile(path);
  if (!('ref' in found)) return;
  const kept = Object.fromEntries(
    Object.entries(found.ref.stages).filter(([name]) => !stages.includes(name)),
  );
  const tmp = store.tmpName('ref');
  mkdirSync(dirname(tmp), { recursive: true });
  replaceFileSync(path, `${JSON.stringify({ ...found.ref, stages: kept }, null, 2)}\n`, tmp);
}
