// What `backend: auto` runs for train, evaluate and sample: ONNX Runtime, the fastest engine
// measured (README "Backends"), on CUDA when onnxruntime-node's CUDA provider is installed and an
// NVIDIA GPU is visible, else on the CPU. A named backend runs as named. For the tfjs backends, the
// gradient engine runs in process or on worker threads (startEngine).
import { existsSync } from 'node:fs';
import { cudaProviderLibrary } from '../lib/device.ts';
import type { Device, LoadedBackend, TrainBackendChoice } from './backend.ts';
import type { GptConfig } from './config.ts';
import { type GradientEngine, InProcessGradients } from './gradients.ts';
import type { NamedTensor } from './safetensors.ts';
import { WorkerGradients } from './worker-gradients.ts';

export interface EngineChoice {
  backend: Exclude<TrainBackendChoice, 'auto'>;
  device: Device;
}

export function chooseEngine(backend: TrainBackendChoice, device: Device | undefined): EngineChoice {
  if (backend !== 'auto') return { backend, device: device ?? 'cpu' };
  const gpu = existsSync('/proc/driver/nvidia/version') && existsSync(cudaProviderLibrary());
  return { backend: 'onnxruntime', device: device ?? (gpu ? 'cuda' : 'cpu') };
}

/**
 * The engine for a backend: `workers` worker threads (the stage's ctx.workers: GPT2O_WORKERS, else
 * one per core) for wasm and cpu (single-threaded backends) when that is more than one; in process
 * for the tensorflow backends, which use every core (or the GPU) themselves.
 */
export async function startEngine(
  backend: LoadedBackend,
  config: GptConfig,
  weights: ReadonlyMap<string, NamedTensor>,
  workers: number,
): Promise<GradientEngine> {
  if ((backend.name === 'wasm' || backend.name === 'cpu') && workers > 1)
    return WorkerGradients.start(workers, backend.name, config, weights);
  return new InProcessGradients(backend, config, weights);
}
