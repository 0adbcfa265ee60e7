// The shape of spec files, as valibot schemas, and the conversion of schema issues into located errors.
import { basename, extname } from 'node:path';
import * as v from 'valibot';
import { type ErrorSink, PipeError } from '../errors.ts';
import { suggestionHint } from '../util/did-you-mean.ts';
import type { YamlFile } from './yaml-file.ts';

const STAGE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const stringList = v.array(v.string());
const needs = v.union([stringList, v.record(v.string(), v.string())]);

/** Where a stage executes: in this process's machine, or as a Slurm job (see README, Running on Slurm). */
export const ExecutorSchema = v.picklist(['local', 'slurm']);
const positiveInt = (what: string) =>
  v.pipe(
    v.number(),
    v.integer(`${what} must be a whole number`),
    v.minValue(1, `${what} must be at least 1`),
  );

/** What a Slurm job asks for; ignored by the local executor. Never part of the cache key. */
export const ResourcesSchema = v.strictObject({
  cpus: v.optional(positiveInt('cpus')),
  /** Slurm's --mem: a number is megabytes, a string carries its unit ("4G"). */
  mem: v.optional(
    v.union(
      [
        positiveInt('mem'),
        v.pipe(v.string(), v.regex(/^\d+[KMGT]?$/i, 'mem must look like 4096, 512M or 4G')),
      ],
      'mem must be megabytes (a number) or a size like "4G"',
    ),
  ),
  gpus: v.optional(v.pipe(v.number(), v.integer('gpus must be a whole number'), v.minValue(0))),
  /** Slurm's --time: minutes as a number, or "HH:MM:SS", "D-HH:MM" and the like. */
  time: v.optional(
    v.union(
      [
        positiveInt('time'),
        v.pipe(v.string(), v.regex(/^[\d:-]+$/, 'time must look like 90, 1:30:00 or 2-00:00')),
      ],
      'time must be minutes (a number) or a Slurm time like "1:30:00"',
    ),
  ),
  partition: v.optional(v.pipe(v.string(), v.nonEmpty('partition must not be empty'))),
  /** Extra sbatch arguments, passed as they are (e.g. ["--account=ml", "--qos=high"]). */
  sbatch: v.optional(stringList),
});

/** A `cmd:` stage: a shell command with declared inputs (deps) and outputs (outs), DVC-style. */
export const CmdStageSchema = v.strictObject({
  cmd: v.pipe(v.string(), v.nonEmpty('cmd must not be empty')),
  deps: v.optional(stringList),
  outs: v.optional(stringList),
  needs: v.optional(needs),
  description: v.optional(v.string()),
  executor: v.optional(ExecutorSchema),
  resources: v.optional(ResourcesSchema),
});

/** A `uses:` stage: a built-in stage from stages/ with its inputs under `with:`. */
export const UsesStageSchema = v.strictObject({
  uses: v.pipe(v.string(), v.nonEmpty('uses must name a built-in stage')),
  with: v.optional(v.record(v.string(), v.unknown())),
  needs: v.optional(needs),
  description: v.optional(v.string()),
  executor: v.optional(ExecutorSchema),
  resources: v.optional(ResourcesSchema),
});

/** The root spec (pipeline.yaml): param defaults and the stages. */
export const RootSpecSchema = v.strictObject({
  description: v.optional(v.string()),
  executor: v.optional(ExecutorSchema),
  params: v.optional(v.record(v.string(), v.unknown())),
  stages: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
});

/**
 * `sweep:` of an experiment: a grid (param path → values, every combination runs) and/or explicit
 * variants (param path → value each). See pipeline/sweep.ts.
 */
export const SweepSchema = v.strictObject({
  name: v.optional(v.string()),
  grid: v.optional(v.record(v.string(), v.array(v.unknown()))),
  variants: v.optional(v.array(v.record(v.string(), v.unknown()))),
});

/** An experiment: a parent spec plus param overrides and an optional sweep (stages live in the root spec). */
export const ExperimentSchema = v.strictObject({
  extends: v.pipe(v.string(), v.nonEmpty()),
  description: v.optional(v.string()),
  executor: v.optional(ExecutorSchema),
  params: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
  sweep: v.optional(SweepSchema),
});

/** Validates `value` (found at `basePath` in `file`); every issue becomes a located error in `sink`. */
export function checkSchema<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  file: YamlFile,
  basePath: (string | number)[],
  sink: ErrorSink,
  context: { stage?: string; what: string },
): v.InferOutput<S> | undefined {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  for (const issue of result.issues) sink.add(issueToError(issue, schema, file, basePath, context));
  return undefined;
}

function issueToError(
  issue: v.BaseIssue<unknown>,
  schema: v.GenericSchema,
  file: YamlFile,
  basePath: (string | number)[],
  context: { stage?: string; what: string },
): PipeError {
  const rel = (issue.path ?? []).map((p) => p.key as string | number);
  const path = [...basePath, ...rel];
  const where = path.length > 0 ? path.join('.') : 'the file';
  if (issue.type === 'strict_object') {
    const key = String(rel[rel.length - 1]);
    const parent = rel.slice(0, -1);
    const allowed = allowedKeys(schema, parent);
    return new PipeError(`unknown key "${key}" in ${context.what}`, {
      code: 'E_SPEC_UNKNOWN_KEY',
      loc: file.locate(path, 'key'),
      stage: context.stage,
      hint: suggestionHint(key, allowed, 'keys'),
    });
  }
  const received = issue.received === 'undefined' ? 'nothing' : issue.received;
  const expected =
    issue.expected === 'Object' ? 'a mapping' : issue.expected === 'Array' ? 'a list' : issue.expected;
  const message =
    issue.kind === 'schema'
      ? `${where}: expected ${expected}, got ${received}`
      : `${where}: ${issue.message}`;
  return new PipeError(message, {
    code: 'E_SPEC_SCHEMA',
    loc: file.locate(path, issue.received === 'undefined' ? 'key' : 'value'),
    stage: context.stage,
    hint: `see the ${context.what} reference in README.md`,
  });
}

/** Keys a strict object schema accepts at `path` (only plain nesting of strict objects is followed). */
function allowedKeys(schema: v.GenericSchema, path: (string | number)[]): string[] {
  let current: unknown = schema;
  for (const segment of path) {
    const entries = (current as { entries?: Record<string, unknown> }).entries;
    current = entries?.[String(segment)];
    while (current && (current as { wrapped?: unknown }).wrapped)
      current = (current as { wrapped: unknown }).wrapped;
  }
  const entries = (current as { entries?: Record<string, unknown> } | undefined)?.entries;
  return entries ? Object.keys(entries) : [];
}

// An experiment's name is its file's name without the extension; it names runs/<experiment>/ and
// its ref, so like a stage name it must be a plain folder name: never ".", "..", a path or hidden.
const EXPERIMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether `name` may name an experiment (a sweep's variants and sweeps follow the same rule). */
export function isExperimentName(name: string): boolean {
  return EXPERIMENT_NAME.test(name);
}

/** The experiment name of a spec file, or a usage error before anything is read or written. */
export function checkExperimentName(specFile: string): string {
  const name = basename(specFile, extname(specFile));
  if (EXPERIMENT_NAME.test(name)) return name;
  throw new PipeError(
    `${specFile} would name the experiment ${JSON.stringify(name)}, which is not a valid experiment name`,
    {
      code: 'E_SPEC_EXPERIMENT_NAME',
      paths: [specFile],
      hint: 'rename the file: its name without .yaml starts with a letter or digit and uses letters, digits, ".", "-" and "_" (it becomes the folder runs/<name>/)',
    },
  );
}

/** Stage names become folder names and `needs:` references, so they stay simple identifiers. */
export function checkStageName(name: string, file: YamlFile, sink: ErrorSink): boolean {
  if (STAGE_NAME.test(name)) return true;
  sink.add(
    new PipeError(`invalid stage name "${name}"`, {
      code: 'E_SPEC_STAGE_NAME',
      loc: file.locate(['stages', name], 'key'),
      hint: 'stage names start with a letter and use letters, digits, "-" and "_"',
    }),
  );
  return false;
}
