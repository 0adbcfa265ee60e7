// Built-in stage `download`: fetches a pipeline's source audio (an http(s) URL of a file or a zip, a
// local file, zip or folder, or a Hugging Face dataset) into `audio/`, keeping paths, and writes
// `manifest.json` with each file's size, SHA-256 and origin. This module holds only the schema; the
// work (fetch, yauzl, picomatch) loads from download-run.ts when the stage runs, so `status` stays fast.
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';
import { parseSource } from './lib/sources.ts';

/** Audio types taken from a zip, folder or dataset when `include:` is not given. */
export const DEFAULT_INCLUDE = ['**/*.mp3', '**/*.wav', '**/*.flac', '**/*.ogg', '**/*.opus', '**/*.m4a'];

const params = v.strictObject({
  /** An http(s) URL, a file:// URL or local path, or hf:OWNER/NAME[@REVISION] (docs/data-sources.md). */
  source: v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const parsed = parseSource(dataset.value);
      if ('error' in parsed) addIssue({ message: parsed.error });
    }),
  ),
  /** Globs over paths inside the source (zip, folder, dataset); a single-file source is taken as is. */
  include: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.nonEmpty('an include glob is empty'))),
      v.minLength(1, 'include needs at least one glob, e.g. ["**/*.mp3"]'),
    ),
    () => [...DEFAULT_INCLUDE],
  ),
  /** The most bytes the stage writes (any one download, and all files together). */
  max_bytes: v.optional(v.pipe(v.number(), v.gtValue(0, 'max_bytes must be more than 0')), 4e9),
  /** Pins: path inside the source (or a zip's file name) → SHA-256 in hex. */
  sha256: v.optional(
    v.record(
      v.string(),
      v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/, 'a sha256 pin must be 64 hex digits'), v.toLowerCase()),
    ),
  ),
  /** Tries after the first for each request that fails with 5xx, 408, 429 or a network error. */
  retries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 5),
  /** A request that receives no data for this long is dropped (and retried). */
  timeout_seconds: v.optional(v.pipe(v.number(), v.gtValue(0)), 60),
  /** First retry delay in ms, doubling each try; tests set it low so they do not sleep. */
  retry_base_ms: v.optional(v.pipe(v.number(), v.minValue(0)), 500),
});

/** The validated `with:` of a download stage. */
export type DownloadParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'download',
  // 2: a relative local source is named relative to the project in the manifest (no absolute paths).
  version: 2,
  description:
    'fetch source audio (URL, zip, local folder or Hugging Face dataset) into audio/ with a manifest',
  params,
  // How hard to try, not what arrives (the bytes are checked against Content-Length and pins).
  keyless: ['retries', 'timeout_seconds', 'retry_base_ms'],
  // A local source is read from the project: declaring it makes its content part of the key.
  deps(p) {
    const source = parseSource(p.source);
    return 'kind' in source && source.kind === 'local' ? [source.path] : [];
  },
  async run(ctx) {
    const { runDownload } = await import('./download-run.ts');
    await runDownload(ctx);
  },
});
