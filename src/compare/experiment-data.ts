// What `compare` compares: for each experiment's latest run (its ref), the params its stages used,
// every stage's metrics (from the run records), step series from any `metrics.jsonl` a stage wrote
// (lines with a numeric `step`: `loss`, `val_loss`, …) and the WAV files of the pipeline's last
// stages (those no other stage reads). Generic over stages: the engine knows these conventions,
// never a specific stage.
// Two more conventions feed the HTML report: a WAV named `reference.wav` among those files is the
// real audio the samples are measured against (the reference row), not a sample; and a stage's
// `metrics.json` may hold `by_<part>` loss breakdowns (breakdowns.ts).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type ExperimentRef, listRefs, readRef } from '../cache/refs.ts';
import type { CacheStore } from '../cache/store.ts';
import { type Breakdown, readBreakdowns } from './breakdowns.ts';

export interface StageResult {
  name: string;
  key: string;
  seconds: number;
  metrics: Record<string, unknown>;
}

export interface Series {
  stage: string;
  /** The field of the metrics.jsonl lines, e.g. "loss" or "val_loss". */
  name: string;
  /** [step, value] in file order. */
  points: [number, number][];
}

export interface AudioFile {
  stage: string;
  /** Path inside the stage's output, e.g. "samples/sample_00.wav". */
  name: string;
  /** Absolute path of the file in the cache. */
  path: string;
  bytes: number;
}

export interface ExperimentResult {
  experiment: string;
  specFile: string;
  updatedAt: string;
  /** Every param some stage of the run referenced, by dotted path. */
  params: Record<string, unknown>;
  stages: StageResult[];
  series: Series[];
  audio: AudioFile[];
  /** The `reference.wav` files of the last stages: what the samples should have sounded like. */
  reference: AudioFile[];
  /** The `by_*` loss breakdowns of the stages' metrics.json files. */
  breakdowns: Breakdown[];
}

export interface Comparison {
  /** The project folder the spec files are shown relative to. */
  projectRoot: string;
  experiments: ExperimentResult[];
  /** Params whose values differ between the experiments (all of them when only one). */
  differingParams: string[];
  /** Stages whose result differs between the experiments (key differs; all when only one). */
  differingStages: string[];
  /** `--by`: the metric experiments are ranked by, and the best experiment (null: none has it). */
  by?: RankedBy;
  /** Set when comparing one sweep: its swept params and every variant, finished or not. */
  sweep?: SweepView;
}

/** `--by stage.metric[:min|:max]` and what it picked. */
export interface RankedBy {
  metric: string;
  direction: 'min' | 'max';
  best: string | null;
}

export interface SweepView {
  sweep: string;
  /** The swept params (the table's columns), in the sweep's order. */
  params: string[];
  /** Every variant in the sweep's order; `finished`: it has a finished run (it is in `experiments`). */
  variants: { experiment: string; values: Record<string, unknown>; finished: boolean }[];
}

/** What `compare` is asked for: spec files, and for a sweep's variant its name too. */
export interface CompareTarget {
  specFile: string;
  variant?: string;
}

/** A ref whose stages all have run records (a finished run), as a result. */
async function collectOne(store: CacheStore, ref: ExperimentRef): Promise<ExperimentResult | undefined> {
  const records = Object.entries(ref.stages).map(([name, s]) => ({
    name,
    ref: s,
    record: store.readRecord(s.key),
  }));
  if (records.length === 0 || records.some((r) => !r.record)) return undefined;
  const params: Record<string, unknown> = {};
  const readBy = new Set<string>();
  for (const { record } of records) {
    Object.assign(params, record!.params);
    for (const upstream of Object.values(record!.inputStages)) readBy.add(upstream);
  }
  const series: Series[] = [];
  const audio: AudioFile[] = [];
  const reference: AudioFile[] = [];
  const breakdowns: Breakdown[] = [];
  for (const { name, ref: s } of records) {
    const dir = await store.materialize(s.tree);
    series.push(...readSeries(name, join(dir, 'metrics.jsonl')));
    breakdowns.push(...readBreakdowns(name, join(dir, 'metrics.json')));
    if (readBy.has(name)) continue;
    for (const wav of findWavs(name, dir)) (isReferenceWav(wav) ? reference : audio).push(wav);
  }
  return {
    experiment: ref.experiment,
    specFile: ref.specFile,
    updatedAt: ref.updatedAt,
    params: sortKeys(params),
    stages: records.map(({ name, record }) => ({
      name,
      key: record!.key,
      seconds: record!.seconds,
      metrics: record!.metrics,
    })),
    series,
    audio,
    reference,
    breakdowns,
  };
}

/**
 * The experiments to compare: the given spec files (absolute paths), or every experiment of this
 * project (refs whose project root is `projectRoot`) with a finished run, by name.
 */
export async function collectComparison(
  store: CacheStore,
  options: { targets?: CompareTarget[]; projectRoot: string },
): Promise<{ comparison: Comparison; missing: CompareTarget[] }> {
  const missing: CompareTarget[] = [];
  const results: ExperimentResult[] = [];
  if (options.targets && options.targets.length > 0) {
    for (const target of options.targets) {
      const ref = readRef(store, target.specFile, target.variant);
      const result = ref && (await collectOne(store, ref));
      if (result) results.push(result);
      else missing.push(target);
    }
  } else {
    const refs = listRefs(store)
      .map((r) => r.ref)
      .filter((ref) => ref.projectRoot === options.projectRoot && existsSync(ref.specFile))
      .sort((a, b) => a.experiment.localeCompare(b.experiment) || a.specFile.localeCompare(b.specFile));
    for (const ref of refs) {
      const result = await collectOne(store, ref);
      if (result) results.push(result);
    }
  }
  return { comparison: compare(results, options.projectRoot), missing };
}

export function compare(experiments: ExperimentResult[], projectRoot: string): Comparison {
  const single = experiments.length <= 1;
  const paramNames = [...new Set(experiments.flatMap((e) => Object.keys(e.params)))].sort();
  const differingParams = paramNames.filter(
    (name) => single || new Set(experiments.map((e) => JSON.stringify(e.params[name] ?? null))).size > 1,
  );
  const stageNames = [...new Set(experiments.flatMap((e) => e.stages.map((s) => s.name)))];
  const differingStages = stageNames.filter(
    (name) =>
      single || new Set(experiments.map((e) => e.stages.find((s) => s.name === name)?.key ?? '')).size > 1,
  );
  return { projectRoot, experiments, differingParams, differingStages };
}

/**
 * `--by` as a metric and a direction. `:min`/`:max` say it; without them a loss-like name (loss,
 * perplexity, error) is lower-is-better and a score-like one (accuracy, score, per_sec, share) is
 * higher-is-better; any other name must say which, rather than be guessed.
 */
export function parseBy(text: string): { metric: string; direction: 'min' | 'max' } | { problem: string } {
  const m = /^([A-Za-z_][\w-]*\.[\w.-]+?)(?::(min|max))?$/.exec(text);
  if (!m) return { problem: `--by "${text}" is not of the form stage.metric or stage.metric:min|max` };
  const metric = m[1]!;
  if (m[2]) return { metric, direction: m[2] as 'min' | 'max' };
  const name = metric.slice(metric.indexOf('.') + 1).toLowerCase();
  if (/loss|perplexity|error/.test(name)) return { metric, direction: 'min' };
  if (/acc|score|per_sec|share/.test(name)) return { metric, direction: 'max' };
  return { problem: `--by ${metric}: cannot tell whether higher or lower is better` };
}

/** The value of `stage.metric` in an experiment's results, when it is a finite number. */
export function metricOf(e: ExperimentResult, metric: string): number | undefined {
  const dot = metric.indexOf('.');
  const value = e.stages.find((s) => s.name === metric.slice(0, dot))?.metrics[metric.slice(dot + 1)];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The best experiment by a metric; ties go to the first. */
export function rankBy(
  experiments: readonly ExperimentResult[],
  by: { metric: string; direction: 'min' | 'max' },
): RankedBy {
  let best: { name: string; value: number } | undefined;
  for (const e of experiments) {
    const value = metricOf(e, by.metric);
    if (value === undefined) continue;
    if (!best || (by.direction === 'min' ? value < best.value : value > best.value))
      best = { name: e.experiment, value };
  }
  return { ...by, best: best?.name ?? null };
}

/** Numeric fields of `metrics.jsonl` lines as series over `step` (other fields are skipped). */
function readSeries(stage: string, path: string): Series[] {
  if (!existsSync(path)) return [];
  const byName = new Map<string, [number, number][]>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch {
      continue; // a metrics file is the stage's business; a bad line is not compare's to fail on
    }
    const step = entry.step;
    if (typeof step !== 'number') continue;
    for (const [name, value] of Object.entries(entry)) {
      if (name === 'step' || typeof value !== 'number' || !Number.isFinite(value)) continue;
      const points = byName.get(name) ?? [];
      if (points.length === 0) byName.set(name, points);
      points.push([step, value]);
    }
  }
  return [...byName].map(([name, points]) => ({ stage, name, points }));
}

function findWavs(stage: string, root: string): AudioFile[] {
  const out: AudioFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.wav$/i.test(entry.name))
        out.push({ stage, name: relative(root, path), path, bytes: statSync(path).size });
    }
  };
  walk(root);
  return out;
}

/** The reference convention: a file named reference.wav, in any folder of the stage's output. */
function isReferenceWav(file: AudioFile): boolean {
  return /(^|\/)reference\.wav$/i.test(file.name);
}

function sortKeys(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
