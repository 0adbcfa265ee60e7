// Starting ONNX Runtime sessions for the GPT graphs, one rule for train, evaluate and sample: the
// execution provider (`device`), the thread count (the stage's ctx.threads, else one per core), and the
// errors a person can act on (no CUDA provider installed, a session that cannot start).
import { availableParallelism } from 'node:os';
import type { InferenceSession } from 'onnxruntime-node';
import { StageError } from '../../../src/stage-api/index.ts';
import { CUDA_INSTALL_COMMAND, checkDevice, type Device } from '../../lib/device.ts';

export type Ort = typeof import('onnxruntime-node');

/** ORT's intra-op threads: `threads` (a stage passes its ctx.threads), else one per core. */
export function ortThreads(threads?: number): number {
  return threads ?? availableParallelism();
}

/** onnxruntime-node, after checking that the provider `device` needs is installed. */
export async function loadOrt(device: Device): Promise<Ort> {
  const ort = await import('onnxruntime-node');
  checkDevice(device, 'device');
  return ort;
}

/**
 * A session of `bytes` (a ModelProto) on `device`; a failure to start is a StageError. `spin`:
 * idle intra-op threads spin (ORT's default), as for training steps; `arena`: ORT's CPU arena.
 */
export function createSession(
  ort: Ort,
  bytes: Uint8Array,
  device: Device,
  threads: number,
  spin = true,
  arena = true,
): Promise<InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    // No arena: memory goes back after each run instead of staying at the largest run's peak
    // (the optimizer's per-tensor runs, beside the step graph's own arena).
    enableCpuMemArena: arena,
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Spinning threads wait for work at full speed: right for a training step's large products,
    // but for small graphs run back to back (one sampled position) on a busy machine they take
    // the cores the next run needs (config B sampling: ~190-450 tok/s spinning, ~930 not).
    ...(spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  }).catch((error: Error) => {
    throw new StageError(
      `onnxruntime could not start the ${device} session: ${error.message.split('\n')[0]}`,
      { hint: device === 'cuda' ? CUDA_HINT : 'set train.backend to wasm, and report this as a bug' },
    );
  });
}

const CUDA_HINT = `install the CUDA execution provider with \`${CUDA_INSTALL_COMMAND}\` (it needs CUDA 12 and cuDNN 9 on the machine), or set device to cpu`;
