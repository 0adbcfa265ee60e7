// Section 2: hashing throughput of a large file from page cache. Ours is the project's own
// `hashFile` (hash-wasm XXH128, in-process); the peers are the native xxhsum and b3sum CLIs, timed as
// whole processes. GB/s is 1e9 bytes per second, computed from the median time.
import { dirname } from 'node:path';
import { hashFile } from '../src/cache/hash.ts';
import { mib } from './big-file.ts';
import { type Check, grade, ratio } from './checks.ts';
import { type Command, runCommand, type Sample, timeAsync, timeCommandsInterleaved } from './timing.ts';
import { isInstalled } from './tools.ts';

export interface HashRow {
  tool: string;
  installed: boolean;
  sample: Sample | null;
  gbPerS: number | null;
}

export interface HashResult {
  bytes: number;
  rows: { ours: HashRow; xxhsum: HashRow; b3sum: HashRow; b3sumOneThread: HashRow };
  /** Whether our digest equals `xxhsum -H2`'s (both are XXH128); null when xxhsum is missing. */
  digestMatchesXxhsum: boolean | null;
  oursVsXxhsum: number | null;
}

/** The bound on ours / xxhsum throughput. */
export const XXHSUM_TARGET = 0.7;

/** Times `hashFile` and the peer CLIs on `path` (already in page cache), `repeat` times each. */
export async function benchHashing(
  path: string,
  bytes: number,
  repeat: number,
  log: (line: string) => void,
): Promise<HashResult> {
  const cwd = dirname(path);
  const peers: Record<'xxhsum' | 'b3sum' | 'b3sumOneThread', Command> = {
    xxhsum: { label: 'xxhsum -H2', file: 'xxhsum', args: ['-H2', path], cwd },
    b3sum: { label: 'b3sum', file: 'b3sum', args: [path], cwd },
    b3sumOneThread: {
      label: 'b3sum --num-threads 1',
      file: 'b3sum',
      args: ['--num-threads', '1', path],
      cwd,
    },
  };

  log(`hashing ${mib(bytes)} MiB: hashFile (${repeat}x)`);
  const ours = await hashFile(path, bytes); // warm-up, and the digest to compare
  const oursSample = await timeAsync(() => hashFile(path, bytes), repeat);

  const installed = (Object.keys(peers) as (keyof typeof peers)[]).filter((k) => isInstalled(peers[k].file));
  log(
    `hashing ${mib(bytes)} MiB: ${installed.map((k) => peers[k].label).join(', ') || 'no peers installed'}`,
  );
  for (const k of installed) runCommand(peers[k]); // warm-up
  const samples = timeCommandsInterleaved(
    installed.map((k) => peers[k]),
    repeat,
  );
  const row = (key: keyof typeof peers): HashRow => {
    const i = installed.indexOf(key);
    const sample = i < 0 ? null : samples[i]!;
    return { tool: peers[key].label, installed: i >= 0, sample, gbPerS: throughput(bytes, sample) };
  };

  const rows = {
    ours: {
      tool: 'hashFile (hash-wasm XXH128)',
      installed: true,
      sample: oursSample,
      gbPerS: throughput(bytes, oursSample),
    },
    xxhsum: row('xxhsum'),
    b3sum: row('b3sum'),
    b3sumOneThread: row('b3sumOneThread'),
  };
  return {
    bytes,
    rows,
    digestMatchesXxhsum: rows.xxhsum.installed ? xxhsumDigest(peers.xxhsum) === ours : null,
    oursVsXxhsum: ratio(rows.ours.gbPerS, rows.xxhsum.gbPerS),
  };
}

/** The graded target: our throughput / xxhsum's. */
export function hashingChecks(result: HashResult): Check[] {
  return [
    grade(
      {
        id: 'hashing.ours_vs_xxhsum',
        label: 'hashFile / xxhsum -H2 throughput',
        op: '>=',
        target: XXHSUM_TARGET,
        unit: 'x',
      },
      result.oursVsXxhsum,
      'xxhsum not installed',
    ),
  ];
}

function throughput(bytes: number, sample: Sample | null): number | null {
  return sample ? bytes / 1e9 / (sample.medianMs / 1000) : null;
}

/** xxhsum prints `<hex>  <path>`; XXH128 in canonical (big-endian) form, like hash-wasm's hex. */
function xxhsumDigest(command: Command): string {
  return runCommand(command).stdout.trim().split(/\s+/)[0] ?? '';
}
