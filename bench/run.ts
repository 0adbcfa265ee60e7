// Entry point of `npm run bench`: measures gpt2o-pipe against its peers on this machine in one run
// (no-op of cached pipelines vs Snakemake and make, from 7 to 5,001 stages; cold builds with one
// and two jobs; hashing vs xxhsum and b3sum, `status` over large
// unchanged artifacts, MP3 resampling vs ffmpeg and sox, tokenize, GPT-2 training vs PyTorch at its
// best, a sweep of the demo vs its experiments one by one) and prints a text report, or one JSON object with --json. Progress goes to stderr. Targets are graded PASS / FAIL / SKIP, but the exit code is 0
// unless the bench itself broke.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from './args.ts';
import { ensureBigFile, warmPageCache } from './big-file.ts';
import { benchBigTree, bigTreeChecks } from './big-tree.ts';
import { benchColdJobs, coldJobsChecks } from './cold-jobs.ts';
import { benchHashing, hashingChecks } from './hashing.ts';
import { describeMachine } from './machine.ts';
import { benchNoop, type NoopResult, noopChecks } from './noop.ts';
import { describePeers, missingPeerWarnings } from './peers.ts';
import { linearPipeline, type ShapeId, scalePipelines, widePipeline } from './pipelines.ts';
import { type BenchResults, formatReport } from './report.ts';
import { benchResample, resampleChecks } from './resample.ts';
import { benchStatusLarge, statusLargeChecks } from './status-large.ts';
import { benchSweep } from './sweep.ts';
import { benchTokenize, tokenizeChecks } from './tokenize.ts';
import { benchTrain, trainChecks } from './train.ts';

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

async function main(): Promise<void> {
  const options = parseBenchArgs(process.argv.slice(2));
  if (!options) return;
  const machine = describeMachine();
  const peers = describePeers();
  const bigFileBytes = (options.small ? 256 : 1024) * 2 ** 20;
  // NOTE: every project lives under one temp root, removed at the end; only the big file and the
  // MP3s are kept.
  const root = mkdtempSync(join(tmpdir(), 'gpt2o-pipe-bench-'));
  try {
    const noop = {} as Record<ShapeId, NoopResult>;
    for (const shape of [linearPipeline(), widePipeline(), ...scalePipelines()])
      noop[shape.id] = benchNoop(shape, root, options.repeat, log, options.baseline);
    const coldJobs = benchColdJobs(root, options.repeat, log, options.baseline);

    const bigFile = ensureBigFile(bigFileBytes, log);
    warmPageCache(bigFile);
    const hashing = await benchHashing(bigFile, bigFileBytes, options.repeat, log);
    const statusLarge = await benchStatusLarge(bigFile, bigFileBytes, root, options.repeat, log);
    const bigTree = await benchBigTree(options.treeFiles, options.repeat, log);
    const resample = await benchResample(options, root, log);
    const tokenize = benchTokenize(options, root, log);
    const train = benchTrain(options, log);
    const sweep = benchSweep(options, root, log);

    const warnings = [
      ...missingPeerWarnings(peers),
      ...(resample.rows.soxOne.missing === 'cannot read mp3'
        ? ['sox cannot read MP3 (libsox-fmt-mp3 missing): its resampling row is not measured']
        : []),
      ...(train.torchPeer?.warnings ?? [
        'PyTorch is not installed for /usr/bin/python3: the training comparison is not measured',
      ]),
    ];
    const results: BenchResults = {
      machine,
      peers,
      warnings,
      options: {
        repeat: options.repeat,
        small: options.small,
        bigFileBytes,
        treeFiles: options.treeFiles,
        baseline: options.baseline ?? null,
      },
      noop,
      coldJobs,
      hashing,
      statusLarge,
      bigTree,
      resample,
      tokenize,
      train,
      sweep,
      checks: [
        ...Object.values(noop).flatMap(noopChecks),
        ...coldJobsChecks(coldJobs),
        ...hashingChecks(hashing),
        ...statusLargeChecks(statusLarge),
        ...bigTreeChecks(bigTree),
        ...resampleChecks(resample),
        ...tokenizeChecks(tokenize),
        ...trainChecks(train),
      ],
    };
    process.stdout.write(options.json ? `${JSON.stringify(results, null, 2)}\n` : formatReport(results));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
