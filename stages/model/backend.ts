// Picks and starts the TensorFlow.js backend (`train.backend`). `auto` takes the fastest that loads:
// tfjs-node-gpu when installed and a GPU is visible, then tfjs-node, then wasm (SIMD; threads when
// the runtime allows), then the plain JS cpu backend. tfjs-node* are not dependencies: their
// install scripts download libtensorflow, which fails on machines that reach only the npm registry
// (README: `npm install @tensorflow/tfjs-node-gpu`).
import { existsSync } from 'node:fs';
import { StageError } from '../../src/stage-api/index.ts';

export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type Tf = typeof import('@tensorflow/tfjs');
/** What `train` runs on: the tfjs backends, or onnxruntime (the step as ONNX graphs, stages/model/onnx/). */
export const TRAIN_BACKENDS = [...BACKENDS, 'onnxruntime'] as const;
export type TrainBackendChoice = (typeof TRAIN_BACKENDS)[number];
/** `train.device`: the word tokenize's `device` uses too (stages/lib/device.ts owns it). */
export { DEVICES, type Device } from '../lib/device.ts';

export interface LoadedBackend {
  tf: Tf;
  /** What ran: tensorflow-gpu | tensorflow | wasm | cpu (never auto). */
  name: Exclude<BackendChoice, 'auto'>;
  /** e.g. "wasm simd, 1 thread" — recorded in metrics so numbers can be compared honestly. */
  detail: string;
}

let loaded: Promise<LoadedBackend> | undefined;
let loadedChoice: BackendChoice | undefined;

/** Loads the backend once per process (tfjs holds one global engine). */
export function loadBackend(choice: BackendChoice): Promise<LoadedBackend> {
  if (loaded && loadedChoice === choice) return loaded;
  loadedChoice = choice;
  loaded = start(choice);
  return loaded;
}

async function start(choice: BackendChoice): Promise<LoadedBackend> {
  const order: Exclude<BackendChoice, 'auto'>[] =
    choice === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const name of order) {
    try {
      const result = await tryStart(name);
      if (result) return result;
      failures.push(`${name}: not available`);
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
      if (choice !== 'auto') break;
    }
  }
  throw new StageError(`no TensorFlow.js backend could start (${failures.join('; ')})`, {
    hint:
      choice === 'auto'
        ? 'reinstall with npm ci (wasm and cpu ship with gpt2o-pipe)'
        : `set train.backend to auto, or install the package for ${choice} (see README "Backends")`,
  });
}

async function tryStart(name: Exclude<BackendChoice, 'auto'>): Promise<LoadedBackend | undefined> {
  if (name === 'tensorflow-gpu') {
    // tfjs-node-gpu only helps with an NVIDIA driver; without one it would fall back to its CPU.
    if (!existsSync('/proc/driver/nvidia/version')) return undefined;
    const tf = (await importOptional('@tensorflow/tfjs-node-gpu')) as Tf | undefined;
    if (!tf) return undefined;
    await tf.setBackend('tensorflow');
    return { tf, name, detail: 'libtensorflow (GPU)' };
  }
  if (name === 'tensorflow') {
    const tf = (await importOptional('@tensorflow/tfjs-node')) as Tf | undefined;
    if (!tf) return undefined;
    await tf.setBackend('tensorflow');
    return { tf, name, detail: 'libtensorflow (CPU)' };
  }
  // The umbrella package: tfjs-core alone registers no gradients, and its ESM files cannot be
  // imported one by one under Node (directory imports).
  const tf = (await import('@tensorflow/tfjs')) as unknown as Tf;
  // Production mode: skips per-op debug checks and the "install tfjs-node" banner.
  tf.enableProdMode();
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // Under Node the threaded build cannot start its workers (ERR_WORKER_PATH), so ask for one.
    wasm.setThreadsCount(1);
    if (!(await tf.setBackend('wasm'))) return undefined;
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    return { tf, name, detail: `wasm${simd ? ' simd' : ''}, ${wasm.getThreadsCount()} thread` };
  }
  if (!(await tf.setBackend('cpu'))) return undefined;
  return { tf, name, detail: 'plain JavaScript' };
}

/** Imports an optional package; undefined when it is not installed (any other failure is thrown). */
async function importOptional(specifier: string): Promise<unknown> {
  try {
    return await import(specifier);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}
