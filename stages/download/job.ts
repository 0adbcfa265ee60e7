// What the readers of the `download` stage share (download-run.ts reads a URL, a zip or a local
// path; hub.ts a Hugging Face dataset): the job built once per run, and the bytes it has left.
import type { StageContext } from '../../src/stage-api/index.ts';
import type { DownloadParams } from '../download.ts';
import type { RequestOptions } from '../lib/http.ts';
import type { Include } from '../lib/include.ts';
import type { Pins } from '../lib/pins.ts';

/** What every source reader needs, built once per run. */
export interface Job {
  ctx: StageContext<DownloadParams>;
  audioDir: string;
  /** Where a downloaded zip waits to be extracted; removed before the stage ends. */
  scratch: string;
  include: Include;
  pins: Pins;
  request: RequestOptions;
  /** Bytes written to audio/ so far, against max_bytes. */
  written: number;
  /**
   * How the manifest names a local file: as a file:// URL for an absolute source, and relative to
   * the project for a relative one, so the output (and every key after it) does not depend on
   * where the project is checked out.
   */
  localUrl(path: string): string;
}

/** Bytes the job may still write under max_bytes. */
export function remaining(job: Job): number {
  return job.ctx.params.max_bytes - job.written;
}
