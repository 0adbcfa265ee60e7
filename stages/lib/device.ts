// Where a stage runs its model: one word, `cpu | cuda`, for every stage that has the choice
// (tokenize's `provider` today; train's device can take the same). This module owns the rule that
// turns the word into onnxruntime-node's execution providers and the error when CUDA is missing.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { StageError } from '../../src/stage-api/index.ts';

export const DEVICES = ['cpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];

/**
 * onnxruntime-node ships only its CPU provider; its install script fetches the CUDA provider from
 * NuGet when asked (our .npmrc skips that step, and the environment variable overrides it).
 */
export const CUDA_INSTALL_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node';

/** The execution providers a session on `device` asks for (no silent CPU fallback for cuda). */
export function onnxProviders(device: Device): string[] {
  return [device];
}

/** The CUDA provider library where onnxruntime-node's install script puts it. */
export function cudaProviderLibrary(): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  const name =
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch, name);
}

/** Throws before a session is made when `device` cannot work here for a reason we can name. */
export function checkDevice(device: Device, param: string): void {
  if (device !== 'cuda' || existsSync(cudaProviderLibrary())) return;
  throw new StageError(`${param}: cuda, but onnxruntime-node's CUDA execution provider is not installed`, {
    hint: `install it with \`${CUDA_INSTALL_COMMAND}\` (CUDA 12 and cuDNN 9 on the machine; it downloads from NuGet), or set ${param}: cpu`,
  });
}

/** The error when onnxruntime could not start a session on `device`. */
export function deviceError(device: Device, param: string, file: string, cause: unknown): StageError {
  const reason = (cause as Error).message.split('\n')[0];
  return new StageError(`${file}: onnxruntime could not start it on ${device}: ${reason}`, {
    hint:
      device === 'cuda'
        ? `the CUDA provider needs an NVIDIA driver, CUDA 12 and cuDNN 9 libraries on LD_LIBRARY_PATH; or set ${param}: cpu`
        : `${file} may not be a model this onnxruntime-node can run; check the codec stage's models`,
    cause,
  });
}
