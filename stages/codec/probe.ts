// Checks that an encoder/decoder pair has the codec contract (float audio [batch, 1, samples] in,
// one int64 [batch, frames] code tensor per level out, and the reverse), and measures the codec's
// facts by running it: frames per level on a probe signal give the hop length and the stride of
// each level, and the largest code the decoder accepts gives the codebook size.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { StageError } from '../../src/stage-api/index.ts';
import type { CodecFacts } from '../contracts/codec-facts.ts';
import { batchOf, runModel, sessionMetadata } from './run-model.ts';

type Ort = typeof import('onnxruntime-node');
type Meta = { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] };

const PROBE_SAMPLES = 32768;
const metadata = sessionMetadata;

function describe(m: Meta): string {
  return `${m.type ?? '?'} [${(m.shape ?? []).join(', ')}]`;
}

function contractError(model: string, what: string, expected: string, got: string): StageError {
  return new StageError(`${model}: ${what} should be ${expected}, got ${got}`, {
    hint: 'codec.encoder/codec.decoder must follow the SNAC ONNX contract (see README: the codec stage)',
  });
}

/** Validates both models' signatures; returns the tensor names. */
export function checkContract(
  encoder: InferenceSession,
  decoder: InferenceSession,
): Pick<CodecFacts, 'encoder' | 'decoder' | 'batch'> {
  const { audio, codes } = checkEncoder(
    metadata(encoder, 'inputMetadata'),
    metadata(encoder, 'outputMetadata'),
  );
  const decIn = metadata(decoder, 'inputMetadata');
  const out = checkDecoder(decIn, metadata(decoder, 'outputMetadata'), codes.length);
  return {
    encoder: { input: audio.name, outputs: codes.map((m) => m.name) },
    decoder: { inputs: decIn.map((m) => m.name), output: out.name },
    batch: { encoder: batchOf(audio), decoder: batchOf(decIn[0]) },
  };
}

/** The encoder: float32 audio [batch, 1, samples] in, one int64 [batch, frames] tensor per level out. */
function checkEncoder(encIn: Meta[], encOut: Meta[]): { audio: Meta; codes: Meta[] } {
  if (encIn.length !== 1)
    throw contractError(
      'encoder',
      'its inputs',
      'one audio tensor',
      `${encIn.length} (${encIn.map((m) => m.name).join(', ')})`,
    );
  const audio = encIn[0]!;
  if (
    audio.type !== 'float32' ||
    audio.shape?.length !== 3 ||
    (typeof audio.shape[1] === 'number' && audio.shape[1] !== 1)
  ) {
    throw contractError('encoder', `input "${audio.name}"`, 'float32 [batch, 1, samples]', describe(audio));
  }
  if (encOut.length === 0)
    throw contractError('encoder', 'its outputs', 'one int64 code tensor per level', 'none');
  for (const m of encOut) {
    if (m.type !== 'int64' || m.shape?.length !== 2)
      throw contractError('encoder', `output "${m.name}"`, 'int64 [batch, frames]', describe(m));
  }
  return { audio, codes: encOut };
}

/** The decoder: the encoder's code tensors in (batch 1 or dynamic), float32 audio out; returns the output. */
function checkDecoder(decIn: Meta[], decOut: Meta[], levels: number): Meta {
  if (decIn.length !== levels) {
    throw contractError(
      'decoder',
      'its inputs',
      `${levels} code tensors (one per encoder output)`,
      `${decIn.length}`,
    );
  }
  for (const m of decIn) {
    if (m.type !== 'int64' || m.shape?.length !== 2)
      throw contractError('decoder', `input "${m.name}"`, 'int64 [batch, frames]', describe(m));
  }
  const out = decOut[0];
  if (decOut.length !== 1 || !out || out.type !== 'float32' || out.shape?.length !== 3) {
    throw contractError(
      'decoder',
      'its output',
      'one float32 [batch, 1, samples] tensor',
      decOut.map(describe).join(', ') || 'none',
    );
  }
  // sample decodes one sample per call; a decoder exported for a larger batch cannot take it.
  const batch = batchOf(decIn[0]);
  if (batch !== 'dynamic' && batch !== 1) {
    throw contractError(
      'decoder',
      `input "${decIn[0]!.name}"`,
      'a batch of 1 or a dynamic batch (sample decodes one sample per call)',
      describe(decIn[0]!),
    );
  }
  return out;
}

/**
 * The encoder run on a 220 Hz probe: its outputs, frames per level, and each level's hop (samples
 * per frame). As many copies of the probe as a fixed batch needs; the decoder gets the first row's.
 */
async function encodeProbe(
  ort: Ort,
  encoder: InferenceSession,
  names: ReturnType<typeof checkContract>,
  sampleRate: number,
): Promise<{ encoded: Awaited<ReturnType<typeof runModel>>; frames: number[]; hops: number[] }> {
  const rows = names.batch.encoder === 'dynamic' ? 1 : names.batch.encoder;
  const probe = Float32Array.from(
    { length: rows * PROBE_SAMPLES },
    (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * (i % PROBE_SAMPLES)) / sampleRate),
  );
  const encoded = await runModel(encoder, 'encoder.onnx', {
    [names.encoder.input]: new ort.Tensor('float32', probe, [rows, 1, PROBE_SAMPLES]),
  });
  const frames = names.encoder.outputs.map((n) => (encoded[n] as Tensor).dims[1]!);
  const hops = frames.map((f, k) => {
    if (!(f > 0) || PROBE_SAMPLES % f !== 0) {
      throw new StageError(
        `encoder: output "${names.encoder.outputs[k]}" has ${f} frames for ${PROBE_SAMPLES} samples, not a whole hop`,
      );
    }
    return PROBE_SAMPLES / f;
  });
  return { encoded, frames, hops };
}

/** Runs the pair on a probe signal and measures the facts. */
export async function probeCodec(
  ort: Ort,
  encoder: InferenceSession,
  decoder: InferenceSession,
  sampleRate: number,
  padMultiple = 0,
): Promise<CodecFacts> {
  const names = checkContract(encoder, decoder);
  const { encoded, frames, hops } = await encodeProbe(ort, encoder, names, sampleRate);
  const hop = Math.min(...hops);
  const frameSamples = Math.max(...hops);
  if (padMultiple && padMultiple % frameSamples !== 0) {
    throw new StageError(
      `pad_multiple ${padMultiple} is not a multiple of the codec's coarse frame (${frameSamples} samples)`,
      {
        hint: `use a multiple of ${frameSamples}, or 0 to take the coarse frame`,
      },
    );
  }
  const codes = Object.fromEntries(
    names.decoder.inputs.map((n, k) => {
      const row = frames[k]!;
      const data = (encoded[names.encoder.outputs[k]!] as Tensor).data as BigInt64Array;
      return [n, new ort.Tensor('int64', data.slice(0, row), [1, row])];
    }),
  );
  const decoded = (await runModel(decoder, 'decoder.onnx', codes))[names.decoder.output] as Tensor;
  if (decoded.dims[2] !== PROBE_SAMPLES) {
    throw new StageError(`decoder: ${PROBE_SAMPLES} samples of codes decode to ${decoded.dims[2]} samples`, {
      hint: 'the decoder must invert the encoder’s framing',
    });
  }
  return {
    sample_rate: sampleRate,
    hop_length: hop,
    levels: hops.length,
    strides: hops.map((h) => h / hop),
    frame_samples: frameSamples,
    pad_multiple: padMultiple || frameSamples,
    codebook_size: await measureCodebook(
      ort,
      decoder,
      names.decoder.inputs,
      hops.map((h) => Math.max(...hops) / h),
    ),
    ...names,
  };
}

/** The largest code index the decoder accepts, plus one (binary search; an out-of-range index fails Gather). */
async function measureCodebook(
  ort: Ort,
  decoder: InferenceSession,
  inputs: string[],
  perCoarseFrame: number[],
): Promise<number> {
  const accepts = async (code: number) => {
    const feeds = Object.fromEntries(
      inputs.map((n, k) => [
        n,
        new ort.Tensor('int64', new BigInt64Array(perCoarseFrame[k]!).fill(BigInt(code)), [
          1,
          perCoarseFrame[k]!,
        ]),
      ]),
    );
    try {
      // Out-of-range probes are expected to fail: keep onnxruntime from logging them as errors.
      await decoder.run(feeds, { logSeverityLevel: 4 });
      return true;
    } catch {
      return false;
    }
  };
  const limit = 1 << 16;
  if (await accepts(limit)) {
    throw new StageError('decoder: it accepts any code index, so its codebook size cannot be measured', {
      hint: 'a codec whose decoder clamps indices is not supported yet',
    });
  }
  let low = 0; // accepted
  let high = limit; // refused
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (await accepts(mid)) low = mid;
    else high = mid;
  }
  return low + 1;
}
