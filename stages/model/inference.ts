// A trained checkpoint opened for `evaluate` and `sample` on the backend the pipeline trained
// with (`train.backend`; auto as engine-choice.ts): the tfjs Gpt, or ONNX Runtime (forward-only and KV-cache graphs). Both
// stages see the same two things: per-target losses and a sampling Decoder.
import type { Device, TrainBackendChoice } from './backend.ts';
import type { GptConfig } from './config.ts';
import type { TokenLosses } from './eval-loss.ts';
import type { Decoder } from './generate.ts';

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
): Promise<InferenceModel> {
  const { readCheckpoint, loadModel } = await import('./load-model.ts');
  const { chooseEngine } = await import('./engine-choice.ts');
  const chosen = chooseEngine(choice, device);
  if (chosen.backend === 'onnxruntime') {
    const { OrtModel } = await import('./onnx/ort-model.ts');
    const { config, weights } = readCheckpoint(dir);
    const model = await OrtModel.start(config, weights, { device: chosen.device });
    return {
      backend: chosen.backend,
      detail: model.description,
      config,
      tokenLosses: (ids, targets, B, T) => model.tokenLosses(ids, targets, B, T),
      decoder: () => model.decoder(),
      dispose: () => model.dispose(),
    };
  }
  const { loadBackend } = await import('./backend.ts');
  const { gptTokenLosses } = await import('./eval-loss.ts');
  const { gptDecoder } = await import('./generate.ts');
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
