// The only file that names the built-in stages (name → lazy import), like Vite's plugins/index.ts.
// The CLI passes this registry to the engine; the engine never imports a stage module itself.
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
