// Loads a trained checkpoint folder (model.safetensors + config.json) into a Gpt on a backend.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedBackend } from './backend.ts';
import { fromHfConfig } from './config.ts';
import { Gpt } from './gpt.ts';
import { readSafetensors } from './safetensors.ts';

export function loadModel(backend: LoadedBackend, dir: string): Gpt {
  const config = fromHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  return new Gpt(backend.tf, config, readSafetensors(join(dir, 'model.safetensors')).tensors);
}
