// A trained checkpoint opened for `evaluate` and `sample` on the backend the pipeline trained
// with (`train.backend`; auto as engine-choice.ts): the tfjs Gpt, or ONNX Runtime (forward-only and KV-cache graphs). Both
// stages see the same two things: per-target losses and a sampling Decoder.
// onnxruntime-node loads (through onnx/ort-model.ts) only when chosen; TensorFlow.js inside loadBackend.
import { type Device, loadBackend, type TrainBackendChoice } from './backend.ts';
import type { GptConfig } from './config.ts';
import { chooseEngine } from './engine-choice.ts';
import { gptTokenLosses, type TokenLosses } from './eval-loss.ts';
import { type Decoder, gptDecoder } from './generate.ts';
import { loadModel, readCheckpoint } from './load-model.ts';

export interface InferenceModel {
  /** What ran (never auto). */
  backend: string;
  detail: string;
  config: GptConfig;
  tokenLosses: TokenLosses;
  decoder(): Decoder;
  dispose(): Promise<void>;
}

export async function openModel(
  dir: string,
  choice: TrainBackendChoice,
  device: Device | undefined,
  /** Threads per onnxruntime session: the stage's ctx.threads. */
  threads?: number,
): Promise<InferenceModel> {
  const chosen = chooseEngine(choice, device);
  if (chosen.backend === 'onnxruntime') {
    const { OrtModel } = await import('./onnx/ort-model.ts');
    const { config, weights } = readCheckpoint(dir);
    const model = await OrtModel.start(config, weights, { device: chosen.device, threads });
    return {
      backend: chosen.backend,
      detail: model.description,
      config,
      tokenLosses: (ids, targets, B, T) => model.tokenLosses(ids, targets, B, T),
      decoder: () => model.decoder(),
      dispose: () => model.dispose(),
    };
  }
  const loaded = await loadBackend(chosen.backend);
  const model = loadModel(loaded, dir);
  return {
    backend: loaded.name,
    detail: loaded.detail,
    config: model.config,
    tokenLosses: gptTokenLosses(model),
    decoder: () => gptDecoder(model),
    dispose: async () => model.dispose(),
  };
}
