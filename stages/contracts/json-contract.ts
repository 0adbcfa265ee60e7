// The one way a stage reads and writes a JSON file that another stage reads (a manifest, the shards'
// meta.json), as nanoGPT's prepare.py pins train.bin/val.bin/meta.pkl. Each contract module
// (download-manifest.ts, audio-manifest.ts, codes-manifest.ts, shards-meta.ts) holds its type, its
// writer and its reader; this file holds what they share. Upstream may be any cmd stage standing in
// for the producer, so a missing, unparsable or malformed file is the user's input error naming the
// file and the field (a StageError), never a crash or a cast.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import { StageError } from '../../src/stage-api/index.ts';
import { unsafePath } from '../lib/files.ts';

/** A whole number ≥ 1 (a size, a rate, a count that cannot be empty). */
export const positiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
/** A whole number ≥ 0 (tokens, frames). */
export const countInt = v.pipe(v.number(), v.integer(), v.minValue(0));

/** A JSON file one stage writes into its output and others read from their input. */
export interface JsonContract<S extends v.GenericSchema> {
  /** The file's name inside the output, e.g. manifest.json. */
  file: string;
  /** What it is, for messages: "audio manifest". */
  what: string;
  /** The stage that writes it, for the hint. */
  producer: string;
  /**
   * What readers check: the fields consumers use (a stand-in may leave out the rest). Unknown keys
   * are dropped, so a consumer sees only what the contract promises.
   */
  schema: S;
}

/** Writes the contract file as every producer always has: 2-space JSON and a final newline. */
export async function writeContract<S extends v.GenericSchema>(
  dir: string,
  contract: JsonContract<S>,
  value: v.InferInput<S>,
): Promise<void> {
  await writeFile(join(dir, contract.file), `${JSON.stringify(value, null, 2)}\n`);
}

/** Reads and checks the contract file of an input folder; a bad one is a StageError naming the field. */
export function readContract<S extends v.GenericSchema>(
  dir: string,
  contract: JsonContract<S>,
): v.InferOutput<S> {
  const text = readText(dir, contract);
  if (text === undefined) throw unreadable(contract, 'ENOENT');
  return parseContract(text, contract);
}

/** As readContract, but undefined when the input has no such file (the contract is optional). */
export function readOptionalContract<S extends v.GenericSchema>(
  dir: string,
  contract: JsonContract<S>,
): v.InferOutput<S> | undefined {
  const text = readText(dir, contract);
  return text === undefined ? undefined : parseContract(text, contract);
}

/** Checks contract text; exported for the unit tests of each contract. */
export function parseContract<S extends v.GenericSchema>(
  text: string,
  contract: JsonContract<S>,
): v.InferOutput<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw unreadable(contract, (cause as Error).message, cause);
  }
  const parsed = v.safeParse(contract.schema, json);
  if (parsed.success) return parsed.output;
  const [first, ...rest] = parsed.issues;
  const more = rest.length === 0 ? '' : ` (and ${rest.length} more problem${rest.length === 1 ? '' : 's'})`;
  throw new StageError(
    `the input's ${contract.file} is not a valid ${contract.what}: ${describeIssue(first)}${more}`,
    { hint: hintOf(contract) },
  );
}

/**
 * A string field naming a path inside the input folder (`kind`: a file or a folder). The listing is
 * data from upstream: a path in it must stay inside the input, so nothing is read (or written, by a
 * consumer naming its outputs after it) outside.
 */
export function pathInside(kind: 'path' | 'folder') {
  return v.pipe(
    v.string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      // Any root works: the check is about the path's own shape (relative, no "..", not empty).
      const problem = unsafePath(dataset.value, '/input');
      if (problem)
        addIssue({
          message: `is ${JSON.stringify(dataset.value)}, which is not a ${kind} inside it (${problem})`,
        });
    }),
  );
}

function readText<S extends v.GenericSchema>(dir: string, contract: JsonContract<S>): string | undefined {
  try {
    return readFileSync(join(dir, contract.file), 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw unreadable(contract, code ?? String(cause), cause);
  }
}

function unreadable<S extends v.GenericSchema>(contract: JsonContract<S>, why: string, cause?: unknown) {
  return new StageError(`the input has no readable ${contract.file} (${why})`, {
    hint: hintOf(contract),
    cause,
  });
}

function hintOf<S extends v.GenericSchema>(contract: JsonContract<S>): string {
  return `this input must be the output of ${contract.producer}, or of a stage writing the same ${contract.file} (its fields: stages/contracts/)`;
}

/** `files[2].seconds must be number, not "1"`: the field by its path, then what is wrong with it. */
export function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path =
    issue.path
      ?.map((item, i) =>
        typeof item.key === 'number' ? `[${item.key}]` : `${i === 0 ? '' : '.'}${String(item.key)}`,
      )
      .join('') || 'the top level';
  // Our own checks (pathInside) say what is wrong in words; valibot's name what they expected.
  if (issue.type === 'raw_check') return `${path} ${issue.message}`;
  if (issue.kind === 'validation')
    return `${path} must be ${issue.expected ?? `an ${issue.type}`}, not ${issue.received}`;
  // A missing key reads as an object issue whose expected value is the key itself.
  if (issue.type === 'object' && issue.received === 'undefined' && issue.path) return `${path} is missing`;
  return `${path} must be ${issue.expected}, not ${issue.received}`;
}
