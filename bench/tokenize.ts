// Section 5: the built-in `tokenize` stage with the test codec (SNAC's contract, not SNAC) on
// synthetic 24 kHz mono audio: throughput as a realtime factor (audio seconds / stage seconds) and
// how the stage's time splits between onnxruntime inference and our own code (reading, windowing,
// batching, writing), from the `inference_share` metric in its run record.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WavWriter } from '../stages/audio/wav-writer.ts';
import { writeTestCodec } from '../test/helpers/test-codec.ts';
import { type Check, grade } from './checks.ts';
import { runCommand, type Sample, summarize } from './timing.ts';
import { pipeCommand } from './tools.ts';

export interface TokenizeResult {
  audioSeconds: number;
  repeat: number;
  /** The stage's own seconds (from `run --json`), per timed run. */
  stage: Sample;
  realtime: number;
  /** Median share of the stage spent inside onnxruntime's session.run. */
  inferenceShare: number;
  /** 1 − inferenceShare: our own code's share of the stage. */
  overheadShare: number;
}

/** Our overhead must stay under this percentage of the stage. */
export const OVERHEAD_TARGET = 10;
const MAX_REPEAT = 5;

const PIPELINE = `stages:
  audio:
    cmd: cp -r data/wav wav && cp data/manifest.json manifest.json
    deps: [data]
    outs: [wav, manifest.json]
  codec:
    uses: codec
    with: {encoder: models/encoder.onnx, decoder: models/decoder.onnx}
  tokenize:
    uses: tokenize
    needs: {audio: audio, codec: codec}
`;

/** Builds the project (audio, test codec, pipeline), runs it cold, then times `tokenize` alone. */
export function benchTokenize(
  options: { repeat: number; small: boolean },
  root: string,
  log: (line: string) => void,
): TokenizeResult {
  const dir = join(root, 'tokenize');
  const seconds = options.small ? 120 : 600;
  mkdirSync(join(dir, 'data/wav'), { recursive: true });
  writeTestCodec(join(dir, 'models'));
  log(`tokenize: writing ${seconds} s of 24 kHz audio`);
  const writer = new WavWriter(join(dir, 'data/wav/book_01.wav'), 24000, 'pcm16');
  for (let s = 0; s < seconds; s++) {
    const x = new Float32Array(24000);
    for (let i = 0; i < x.length; i++) {
      const t = s * 24000 + i;
      x[i] = 0.3 * Math.sin((2 * Math.PI * 7 * t) / 24000) + 0.05 * Math.sin(t * 0.37);
    }
    writer.write(x);
  }
  writer.close();
  writeFileSync(
    join(dir, 'data/manifest.json'),
    JSON.stringify({ sample_rate: 24000, files: [{ file: 'wav/book_01.wav', split: 'train', seconds }] }),
  );
  writeFileSync(join(dir, 'pipeline.yaml'), PIPELINE);
  runCommand(pipeCommand('run', dir));

  const repeat = Math.min(options.repeat, MAX_REPEAT);
  log(`tokenize: timing ${repeat} runs`);
  const stageSeconds: number[] = [];
  const shares: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const out = runCommand(pipeCommand('run', dir, ['--force', 'tokenize', '--json'])).stdout;
    const stage = (
      JSON.parse(out) as { stages: { name: string; key: string; seconds: number }[] }
    ).stages.find((s) => s.name === 'tokenize')!;
    const record = JSON.parse(
      readFileSync(join(dir, 'cache/actions', stage.key.slice(0, 2), `${stage.key}.json`), 'utf8'),
    );
    stageSeconds.push(stage.seconds * 1000);
    shares.push(record.metrics.inference_share as number);
  }
  const stage = summarize(stageSeconds);
  const inferenceShare = summarize(shares).medianMs;
  return {
    audioSeconds: seconds,
    repeat,
    stage,
    realtime: seconds / (stage.medianMs / 1000),
    inferenceShare,
    overheadShare: 1 - inferenceShare,
  };
}

export function tokenizeChecks(r: TokenizeResult): Check[] {
  return [
    grade(
      {
        id: 'tokenize.overhead_percent',
        label: 'our overhead in tokenize',
        op: '<',
        target: OVERHEAD_TARGET,
        unit: '%',
      },
      100 * r.overheadShare,
    ),
  ];
}
