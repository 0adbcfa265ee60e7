// The resolved, validated form of a spec: what the graph, the cache keys and the runner consume.
import type { Loc } from '../errors.ts';
import type { StageDefinition } from '../stage-api/index.ts';
import type { ParamTree } from './params.ts';
import type { SweepDecl } from './sweep.ts';

/** An upstream stage bound to an input slot (`needs: [a]` binds slot "a" to stage "a"). */
export interface NeedBinding {
  slot: string;
  stage: string;
  loc: Loc;
}

/** A declared path (`deps:`/`outs:`), normalized to POSIX form relative to the project root. */
export interface PathDecl {
  path: string;
  loc: Loc;
}

export type ExecutorName = 'local' | 'slurm';

/** `resources:` of a stage: what its Slurm job requests (see ResourcesSchema). */
export interface StageResources {
  cpus?: number;
  mem?: number | string;
  gpus?: number;
  time?: number | string;
  partition?: string;
  sbatch?: string[];
}

interface StageBase {
  name: string;
  loc: Loc;
  description?: string;
  needs: NeedBinding[];
  /** The params this stage references, by dotted path, with their resolved values. */
  params: Record<string, unknown>;
  /** `cmd:` or `with:` as written, before interpolation: tells "command changed" from "param changed". */
  template: unknown;
  /** `executor:` of the stage; unset: the run's default. Not part of the cache key. */
  executor?: ExecutorName;
  resources?: StageResources;
}

export interface CmdStage extends StageBase {
  kind: 'cmd';
  /** Shell source: each `${p}` became "${GPT2O_P_…}" (see pipeline/cmd-env.ts); no value is in it. */
  cmd: string;
  /** The param values the command reads, as environment variables; with cmd, the stage's identity. */
  env: Record<string, string>;
  deps: PathDecl[];
  outs: PathDecl[];
}

export interface UsesStage extends StageBase {
  kind: 'uses';
  uses: string;
  definition: StageDefinition;
  /** `with:` after interpolation and schema validation (defaults applied). */
  with: Record<string, unknown>;
  /** Local paths the stage declared from its params (relative to the project root, or absolute). */
  deps: PathDecl[];
}

export type ResolvedStage = CmdStage | UsesStage;

export interface ResolvedSpec {
  /** Experiment name: the spec file's base name without extension. */
  experiment: string;
  specFile: string;
  /** The pipeline.yaml the experiment finally extends; its folder is the project root. */
  rootFile: string;
  projectRoot: string;
  /** The files it was resolved from: the `extends:` chain, rootFile first, specFile last. */
  files: readonly string[];
  params: ParamTree;
  /** Default executor of the experiment (the last file of the chain that sets it); unset: local. */
  executor?: ExecutorName;
  /**
   * Set when this is a sweep's variant: the experiment named by the file (`of`) and the values that
   * override it. `experiment` is then the variant's name, and names its ref with `specFile`.
   */
  variant?: { of: string; values: Record<string, unknown> };
  /** The `sweep:` block of the file being run (not of the files it extends); unset for a variant. */
  sweep?: SweepDecl;
  stages: ResolvedStage[];
}
