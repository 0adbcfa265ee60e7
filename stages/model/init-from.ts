// `train.init_from`: the weights a run starts from instead of build-nanogpt's random init: a GPT-2
// safetensors checkpoint in Hugging Face form (ours, or any GPT-2 of the same shape). It comes
// from another stage's output (`needs: {init: <train stage>}`), a local file or folder (a dep, so
// its content is in the key), an http(s) URL or hf:OWNER/REPO/PATH[@REV] (the codec's model
// sources; the URL text is in the key, and `init_sha256` pins the content).
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { type StageContext, StageError } from '../../src/stage-api/index.ts';
import { fetchModel } from '../lib/fetch-model.ts';
import { parseModelSource } from '../lib/model-source.ts';
import type { GptConfig } from './config.ts';
import { parameterShapes } from './gpt.ts';
import { type NamedTensor, readSafetensors } from './safetensors.ts';

/** The input slot of another stage's checkpoint. */
export const INIT_SLOT = 'init';

/**
 * The checkpoint file to start from, fetched into `scratch` when remote; undefined: random init.
 * `from` names it for messages.
 */
export async function initCheckpointFile(
  ctx: StageContext,
  initFrom: string | undefined,
  sha256: string | undefined,
  scratch: string,
): Promise<{ file: string; from: string } | undefined> {
  const slot = ctx.inputs.includes(INIT_SLOT);
  if (slot && initFrom !== undefined)
    throw new StageError(`train has both init_from (${initFrom}) and an "${INIT_SLOT}" input`, {
      hint: `start from one checkpoint: remove init_from or needs.${INIT_SLOT}`,
    });
  if (slot) return { file: join(ctx.input(INIT_SLOT), 'model.safetensors'), from: `needs.${INIT_SLOT}` };
  if (initFrom === undefined) {
    if (sha256 !== undefined) throw new StageError('init_sha256 is set, but init_from is not');
    return undefined;
  }
  const source = parseModelSource(initFrom);
  if ('error' in source) throw new StageError(source.error);
  if (source.kind === 'local') {
    const path = ctx.dep(source.path);
    const file = statSync(path).isDirectory() ? join(path, 'model.safetensors') : path;
    return { file, from: initFrom };
  }
  const file = join(scratch, 'init.safetensors');
  await fetchModel(ctx, initFrom, source, file, 'init_from checkpoint');
  if (sha256 !== undefined) {
    const actual = await sha256Of(file);
    if (actual !== sha256)
      throw new StageError(`init_from ${initFrom} has sha256 ${actual}, but init_sha256 pins ${sha256}`, {
        hint: `the file changed or the pin is wrong; if the new file is right, set init_sha256: ${actual}`,
      });
  }
  return { file, from: initFrom };
}

/**
 * The model's parameters from a checkpoint's tensors, by HF name (with or without the
 * `transformer.` prefix that transformers' GPT2Model omits); other tensors (lm_head, attention
 * masks) are ignored. A missing tensor or another shape is a StageError naming both shapes.
 */
export function matchWeights(
  config: GptConfig,
  tensors: ReadonlyMap<string, NamedTensor>,
  from: string,
): Map<string, NamedTensor> {
  const weights = new Map<string, NamedTensor>();
  for (const [name, shape] of parameterShapes(config)) {
    const w = tensors.get(name) ?? tensors.get(name.replace(/^transformer\./, ''));
    if (!w)
      throw new StageError(`init_from ${from} has no tensor "${name}"`, {
        hint: 'init_from needs a GPT-2 checkpoint in Hugging Face form (model.safetensors)',
      });
    if (w.shape.join(',') !== shape.join(','))
      throw new StageError(
        `init_from ${from}: tensor "${name}" has shape [${w.shape.join(', ')}], this model needs [${shape.join(', ')}]`,
        { hint: 'set n_layer, n_head, n_embd, context_length and vocab_size to the checkpoint’s' },
      );
    // A copy: the trainer updates its master weights in place.
    weights.set(name, { shape: [...shape], data: Float32Array.from(w.data) });
  }
  return weights;
}

/** Reads and matches the checkpoint file. */
export function readInitWeights(config: GptConfig, file: string, from: string): Map<string, NamedTensor> {
  let tensors: Map<string, NamedTensor>;
  try {
    tensors = readSafetensors(file).tensors;
  } catch (cause) {
    throw new StageError(`init_from ${from}: ${(cause as Error).message}`, {
      hint: 'init_from needs a GPT-2 checkpoint in Hugging Face form (model.safetensors, F32)',
      cause,
    });
  }
  return matchWeights(config, tensors, from);
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
