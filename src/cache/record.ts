// The run record: what a stage key produced and how. Written last, so its presence means "done".

/** The inputs that define a stage key; hashed canonically (see key.ts). */
export interface KeyDescription {
  salt: string;
  kind: 'cmd' | 'uses';
  /** A cmd stage is its interpolated command; a built-in stage is its name and version. */
  identity: { cmd: string; env?: Record<string, string> } | { uses: string; version: number };
  /** Built-in stages: the validated `with:` values (only what the stage's schema accepts). */
  with?: Record<string, unknown>;
  /** Project files the stage reads, by path → content digest. */
  deps: Record<string, string>;
  /** Upstream stages by slot → their output tree digest (early cutoff: digests, not keys). */
  inputs: Record<string, string>;
  /** Declared output paths of a cmd stage. */
  outs?: string[];
}

export interface OutputSummary {
  tree: string;
  files: number;
  bytes: number;
}

export interface RunRecord {
  format: 1;
  key: string;
  description: KeyDescription;
  /** Stage name and experiment that computed it (a record is shared by every experiment with this key). */
  stage: string;
  experiment: string;
  /** The params the stage referenced, by dotted path (for `status` reasons and `compare`). */
  params: Record<string, unknown>;
  /** `cmd:`/`with:` as written (see ResolvedStage.template). */
  template: unknown;
  /** Upstream stage names per slot (for reasons like "upstream shard output changed"). */
  inputStages: Record<string, string>;
  output: OutputSummary;
  metrics: Record<string, unknown>;
  warnings: string[];
  startedAt: string;
  seconds: number;
  logTail: string;
  tools: { gpt2oPipe: string; node: string; platform: string };
  host: string;
  /** Set when the stage ran inside a Slurm job (the slurm executor): where and with what. */
  slurm?: SlurmJobInfo;
}

/** What serving a key needs of its record (CacheStore.serve): its output and its warnings. */
export type ServedRecord = Pick<RunRecord, 'key' | 'output' | 'warnings'>;

export interface SlurmJobInfo {
  jobId: string;
  node: string;
  cluster?: string;
  partition?: string;
  /** The stage's `resources:` as the head requested them. */
  resources: Record<string, unknown>;
}
