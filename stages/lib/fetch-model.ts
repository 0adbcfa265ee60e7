// Fetches a model file (see model-source.ts for the forms); downloads reuse the `download` stage's
// HTTP client (resume, retries, progress), Hub URLs get HF_ENDPOINT and HF_TOKEN.
import { copyFile } from 'node:fs/promises';
import type { StageContext } from '../../src/stage-api/index.ts';
import { hubEndpoint, hubHeaders } from './hf.ts';
import { fetchToFile } from './http.ts';
import type { ModelSource } from './model-source.ts';
import { byteProgress } from './progress.ts';

/** Puts the model at `dest`: downloaded, or copied from the declared local dep. */
export async function fetchModel(
  ctx: StageContext,
  text: string,
  source: ModelSource,
  dest: string,
  name: string,
): Promise<void> {
  if (source.kind === 'local') {
    await copyFile(ctx.dep(source.path), dest);
    return;
  }
  const hub = source.kind === 'hub';
  const url = hub ? `${hubEndpoint()}/${source.path}` : source.url;
  await fetchToFile({
    url,
    dest,
    name,
    headers: hub ? hubHeaders() : undefined,
    signal: ctx.signal,
    onRetry: (message) => ctx.log(message),
    onProgress: byteProgress(ctx.progress, name),
  });
  ctx.log(`fetched ${name} from ${text}`);
}
