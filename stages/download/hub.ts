// The `download` stage's Hugging Face reader: list the dataset's files at a revision, keep the
// included ones, and fetch them a few at a time under one byte budget.
import { join } from 'node:path';
import { StageError } from '../../src/stage-api/index.ts';
import type { DownloadedFile } from '../contracts/download-manifest.ts';
import { tooLarge, unsafePath } from '../lib/files.ts';
import { hubEndpoint, hubHeaders, listDatasetFiles, resolveUrl } from '../lib/hf.ts';
import { fetchToFile, type RequestOptions } from '../lib/http.ts';
import { selectIncluded } from '../lib/include.ts';
import { byteProgress } from '../lib/progress.ts';
import type { Source } from '../lib/sources.ts';
import { type Job, remaining } from './job.ts';

export async function fromHub(job: Job, dataset: Extract<Source, { kind: 'hf' }>): Promise<DownloadedFile[]> {
  const endpoint = hubEndpoint();
  const request = { ...job.request, headers: hubHeaders() };
  const listed = await listDatasetFiles(endpoint, dataset, request);
  const where = `hf:${dataset.owner}/${dataset.name}@${dataset.revision}`;
  const selected = selectIncluded(where, job.include, listed);
  for (const { path } of selected) {
    const problem = unsafePath(path, job.audioDir);
    if (problem)
      throw new StageError(`${where} lists a file that would escape audio/: "${path}" (${problem})`);
  }
  const declared = selected.reduce((sum, f) => sum + (f.size ?? 0), 0);
  if (declared > remaining(job))
    throw tooLarge(`${where} (${selected.length} files)`, remaining(job), declared);
  return fetchAll(job, selected, where, {
    url: (path) => resolveUrl(endpoint, dataset, path),
    request,
    declared: selected.every((f) => f.size !== undefined) ? declared : undefined,
  });
}

/**
 * Files of a dataset fetched at once: enough to hide the per-request latency of a far server, few
 * enough to be polite to it. Not a param: it does not change the output.
 */
const PARALLEL_DOWNLOADS = 4;

/**
 * Downloads `files` into audio/, PARALLEL_DOWNLOADS at a time, with one progress line for all of
 * them. max_bytes holds for their sum as it arrives; the first failure stops the others and is the
 * error reported. Entries come back in the given order, whatever order the files finish in.
 */
async function fetchAll(
  job: Job,
  files: readonly { path: string }[],
  where: string,
  options: { url(path: string): string; request: RequestOptions; declared: number | undefined },
): Promise<DownloadedFile[]> {
  const budget = remaining(job);
  const received = new Array<number>(files.length).fill(0);
  const done: DownloadedFile[] = new Array(files.length);
  let finished = 0;
  const report = byteProgress(job.ctx.progress, () => `${finished}/${files.length} files`);
  const stop = new AbortController();
  const onStageAbort = () => stop.abort(job.ctx.signal.reason);
  if (job.ctx.signal.aborted) onStageAbort();
  job.ctx.signal.addEventListener('abort', onStageAbort, { once: true });
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < files.length && !stop.signal.aborted) {
      const i = next++;
      const { path } = files[i]!;
      const url = options.url(path);
      try {
        const fetched = await fetchToFile({
          ...options.request,
          signal: stop.signal,
          url,
          dest: join(job.audioDir, path),
          name: path,
          sha256: job.pins.expected(path),
          maxBytes: budget,
          onProgress: (bytes) => {
            received[i] = bytes;
            const sum = received.reduce((a, b) => a + b, 0);
            if (sum > budget) throw tooLarge(`${where} (${files.length} files)`, budget);
            report(sum, options.declared);
          },
        });
        received[i] = fetched.bytes;
        finished++;
        done[i] = { file: `audio/${path}`, bytes: fetched.bytes, sha256: fetched.sha256, url };
      } catch (error) {
        // The first failure is the one to report; the others' errors are the abort it caused.
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL_DOWNLOADS, files.length) }, worker));
  } finally {
    job.ctx.signal.removeEventListener('abort', onStageAbort);
  }
  if (failure) throw failure.error;
  job.written += received.reduce((a, b) => a + b, 0);
  return done;
}
