// The only file that names the built-in stages (name → lazy import), like Vite's plugins/index.ts.
// The CLI passes this registry to the engine; the engine never imports a stage module itself.
//
// How stages load, one way for all: `status` and a fully cached `run` import a stage module
// (stages/<name>.ts) for its version and schema, so that module holds the definition alone and
// imports only valibot, the stage API and light helpers. Its run() makes one dynamic import, of
// its body (stages/<name>-run.ts), which imports everything else statically. A body imports
// dynamically only a heavy runtime that one branch chooses (onnxruntime-node or TensorFlow.js for
// a backend, a decoder for one audio format), so a run does not load what it does not use.
import { createRegistry } from '../src/stage-api/index.ts';

export const builtinStages = createRegistry({
  codec: () => import('./codec.ts'),
  download: () => import('./download.ts'),
  evaluate: () => import('./evaluate.ts'),
  resample: () => import('./resample.ts'),
  sample: () => import('./sample.ts'),
  shard: () => import('./shard.ts'),
  tokenize: () => import('./tokenize.ts'),
  train: () => import('./train.ts'),
});
