// What `backend: auto` runs for train, evaluate and sample: ONNX Runtime, the fastest engine
// measured (README "Backends"), on CUDA when onnxruntime-node's CUDA provider is installed and an
// NVIDIA GPU is visible, else on the CPU. A named backend runs as named.
import { existsSync } from 'node:fs';
import { cudaProviderLibrary } from '../lib/device.ts';
import type { Device, TrainBackendChoice } from './backend.ts';

export interface EngineChoice {
  backend: Exclude<TrainBackendChoice, 'auto'>;
  device: Device;
}

export function chooseEngine(backend: TrainBackendChoice, device: Device | undefined): EngineChoice {
  if (backend !== 'auto') return { backend, device: device ?? 'cpu' };
  const gpu = existsSync('/proc/driver/nvidia/version') && existsSync(cudaProviderLibrary());
  return { backend: 'onnxruntime', device: device ?? (gpu ? 'cuda' : 'cpu') };
}
