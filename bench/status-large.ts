// Section 3: `status` when nothing changed over large artifacts. A 2-stage pipeline takes the big
// file as a dep and writes a copy of it as its out; once the stat cache knows both, `status` must not
// rehash them, so its time should be start-up plus a few stats.
import { copyFileSync, linkSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mib } from './big-file.ts';
import { type Check, grade } from './checks.ts';
import { assertPipeUpToDate } from './noop.ts';
import { type Sample, sleep, timeCommandOnce, timeCommandsInterleaved } from './timing.ts';
import { pipeCommand } from './tools.ts';

export interface StatusLargeResult {
  /** Bytes of the dep; the out is a copy, so the pipeline holds twice this. */
  bytes: number;
  coldRunMs: number;
  status: Sample;
}

/** The bound on the median `status` time, in ms. */
export const STATUS_TARGET_MS = 200;

// NOTE: the stat cache only remembers files whose mtime and ctime are over 2 s old when hashed, and
// only `run` saves it (`status` does not, as of this writing). Setting mtime into the past is not
// enough, since link and utimes both bump ctime, so we wait before the cold run; we wait again after
// it so a `status` that does save the cache would also find everything old enough.
const RACY_WAIT_MS = 2500;

/** Builds the project under `root` around `bigFile`, runs it cold, then times `status`. */
export async function benchStatusLarge(
  bigFile: string,
  bytes: number,
  root: string,
  repeat: number,
  log: (line: string) => void,
): Promise<StatusLargeResult> {
  const dir = join(root, 'status-large');
  mkdirSync(join(dir, 'data'), { recursive: true });
  const data = join(dir, 'data', 'big.bin');
  try {
    linkSync(bigFile, data); // same inode: no extra GiB on disk, already in page cache
  } catch {
    copyFileSync(bigFile, data); // another filesystem
  }
  const past = new Date(Date.now() - 60_000);
  utimesSync(data, past, past);
  writeFileSync(join(dir, 'pipeline.yaml'), pipelineYaml());
  await sleep(RACY_WAIT_MS);

  log(`status over ${mib(2 * bytes)} MiB: cold run (hashes the dep and the out)`);
  const coldRunMs = timeCommandOnce(pipeCommand('run', dir));
  await sleep(RACY_WAIT_MS);
  log(`status over ${mib(2 * bytes)} MiB: warm-up status, then ${repeat}x status`);
  assertPipeUpToDate(dir); // the warm-up: remembers digests the cold run saw as too fresh
  const [status] = timeCommandsInterleaved([pipeCommand('status', dir)], repeat);
  return { bytes, coldRunMs, status: status! };
}

/** The graded target: median `status` time. */
export function statusLargeChecks(result: StatusLargeResult): Check[] {
  return [
    grade(
      {
        id: 'status_large.status_ms',
        label: `status, ${mib(2 * result.bytes)} MiB unchanged (median)`,
        op: '<',
        target: STATUS_TARGET_MS,
        unit: 'ms',
      },
      result.status.medianMs,
    ),
  ];
}

function pipelineYaml(): string {
  return stringify(
    {
      stages: {
        copy: {
          cmd: 'mkdir -p out && cp data/big.bin out/big.bin',
          deps: ['data/big.bin'],
          outs: ['out/big.bin'],
        },
        size: { cmd: 'wc -c < out/big.bin > size.txt', deps: ['out/big.bin'], outs: ['size.txt'] },
      },
    },
    { flowCollectionPadding: false },
  );
}
