// Checkpoint folders: model.safetensors (HF GPT-2 names) + config.json (HF GPT2Config) +
// optimizer.safetensors (AdamW moments) + trainer_state.json (step, data position, elapsed time,
// metrics so far). Resume checkpoints live in the stage's resume folder as step_NNNNNNNN/; each is
// written under a temporary name and renamed into place, so a kill leaves either the old or the
// new one complete, never half of one.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type GptConfig, toHfConfig } from './config.ts';
import type { LoaderPosition } from './loader.ts';
import { type NamedTensor, readSafetensors, writeSafetensors } from './safetensors.ts';

export interface TrainerState {
  /** Optimizer steps completed. */
  step: number;
  loader: LoaderPosition;
  /** Seconds of training before this checkpoint (summed over resumed runs). */
  elapsed: number;
  /** Every metrics line so far (train steps and evals), in order. */
  metrics: Record<string, unknown>[];
  backend: string;
}

export interface Checkpoint {
  config: GptConfig;
  weights: Map<string, NamedTensor>;
  optimizer: Map<string, NamedTensor>;
  state: TrainerState;
}

/** Writes a complete checkpoint folder at `dir` (which must not exist yet). */
export function writeCheckpoint(dir: string, c: Checkpoint, extraConfig: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), c.weights, { format: 'pt' });
  writeSafetensors(join(dir, 'optimizer.safetensors'), c.optimizer, { step: String(c.state.step) });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(toHfConfig(c.config, extraConfig), null, 2)}\n`);
  writeFileSync(join(dir, 'trainer_state.json'), `${JSON.stringify(c.state)}\n`);
}

export function readCheckpointState(dir: string): TrainerState {
  return JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
}

export function readWeights(dir: string): Map<string, NamedTensor> {
  return readSafetensors(join(dir, 'model.safetensors')).tensors;
}

export function readOptimizer(dir: string): Map<string, NamedTensor> {
  return readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
}

const STEP_DIR = /^step_(\d{8})$/;

/** The newest complete resume checkpoint in `resumeDir`, if any. */
export function latestCheckpoint(resumeDir: string): string | undefined {
  const steps = readdirSync(resumeDir)
    .filter((name) => STEP_DIR.test(name))
    .sort();
  const last = steps.at(-1);
  return last ? join(resumeDir, last) : undefined;
}

/** Saves a resume checkpoint atomically, then drops older ones and leftovers of killed saves. */
export function saveResumeCheckpoint(
  resumeDir: string,
  c: Checkpoint,
  extraConfig?: Record<string, unknown>,
): void {
  const name = `step_${String(c.state.step).padStart(8, '0')}`;
  const staging = join(resumeDir, `.partial-${name}`);
  rmSync(staging, { recursive: true, force: true });
  writeCheckpoint(staging, c, extraConfig);
  rmSync(join(resumeDir, name), { recursive: true, force: true });
  renameSync(staging, join(resumeDir, name));
  for (const other of readdirSync(resumeDir))
    if (other !== name) rmSync(join(resumeDir, other), { recursive: true, force: true });
}
