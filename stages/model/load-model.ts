// Loads a trained checkpoint folder (model.safetensors + config.json) into a Gpt on a backend, or
// as config + weights for ONNX Runtime.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedBackend } from './backend.ts';
import { fromHfConfig, type GptConfig } from './config.ts';
import { Gpt } from './gpt.ts';
import { type NamedTensor, readSafetensors } from './safetensors.ts';

export function loadModel(backend: LoadedBackend, dir: string): Gpt {
  const { config, weights } = readCheckpoint(dir);
  return new Gpt(backend.tf, config, weights);
}

/** The config and weights of a checkpoint folder, for any engine. */
export function readCheckpoint(dir: string): { config: GptConfig; weights: Map<string, NamedTensor> } {
  const config = fromHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  return { config, weights: readSafetensors(join(dir, 'model.safetensors')).tensors };
}
