// Where a stage runs its model: one word, `device: cpu | cuda`, for every stage that has the
// choice (tokenize's encoder, and train, evaluate and sample on onnxruntime). This module owns the
// word, the rule that turns it into onnxruntime-node's execution providers, the error when CUDA is
// missing, and the error for tokenize's old name of it (`provider`).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as v from 'valibot';
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
  const library = cudaProviderLibrary();
  if (device !== 'cuda' || existsSync(library)) return;
  throw new StageError(
    `${param}: cuda, but onnxruntime-node's CUDA execution provider is not installed (no ${library})`,
    {
      hint: `install it with \`${CUDA_INSTALL_COMMAND}\` (CUDA 12 and cuDNN 9 on the machine; it downloads from NuGet), or set ${param}: cpu`,
    },
  );
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

/**
 * A schema check refusing a stage param's old name with the fix (tokenize's `provider` became
 * `device`, train's word): an error at the key, not a silent second spelling of one setting.
 */
export function renamedParam<T extends Record<string, unknown>>(old: string, now: string, param: string) {
  return v.forward<T, v.BaseIssue<unknown>, [string]>(
    v.check(
      (p) => p[old] === undefined,
      (issue) =>
        `${old} was renamed ${now} (one word for where a model runs, as train.device): write ${now}: ${String((issue.input as T)[old])}; in pipeline.yaml's params, ${param}`,
    ),
    [old] as never,
  );
}
