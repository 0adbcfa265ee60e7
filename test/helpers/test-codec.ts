// A tiny ONNX audio codec with SNAC's contract, for tests and the offline demo: encoder
// `input_values` [batch, 1, samples] float32 → three int64 code tensors at rates 1:2:4
// (frames of 2048, 1024 and 512 samples at 24 kHz, like SNAC 24 kHz's hop of 512); decoder the
// reverse → `audio_values` [batch, 1, samples]. Each level projects its frames onto the first
// `dim` DCT basis vectors and picks the nearest point of a grid codebook (`steps` values per
// dimension, steps^dim codes: 8^4 = 4096 as in SNAC); the decoder maps codes back to points and
// projects them back and averages the levels, so it inverts the encoder only roughly: a quantized,
// low-passed copy. Like SNAC's noise blocks, the decoder adds unseeded Gaussian noise (a
// `RandomNormalLike`, std `noise`), so decoding is reproducible only once its random op is seeded.
// It is a TEST CODEC, not SNAC: the same shapes and dtypes, none of SNAC's quality.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;
const INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
export const TEST_CODEC_SAMPLE_RATE = 24000;
/** Samples per frame of level 0, 1, 2 (level k has 2^k frames per coarse frame). */
export const TEST_CODEC_FRAME = [2048, 1024, 512] as const;

export interface TestCodecOptions {
  /** Grid values per dimension; the codebook holds steps^dim codes. */
  steps?: number;
  dim?: number;
  /** Std of the decoder's unseeded output noise; 0: none. */
  noise?: number;
  /** A fixed batch dimension for every input and output (an export for batch 1); default dynamic. */
  batch?: number;
  /** A fixed samples dimension of the encoder's input (an export for one window length). */
  samples?: number;
}

export interface TestCodecWeights {
  codebookSize: number;
  dim: number;
  /** Per level: the projection [frame, dim] (row-major) and the codebook [codebookSize, dim]. */
  projections: Float32Array[];
  codebooks: Float32Array[];
}

/** The codec's fixed weights, shared by the models and the JS reference. */
export function testCodecWeights({ steps = 8, dim = 4 }: TestCodecOptions = {}): TestCodecWeights {
  const codebookSize = steps ** dim;
  const projections = TEST_CODEC_FRAME.map((frame) => {
    const w = new Float32Array(frame * dim);
    for (let n = 0; n < frame; n++) {
      for (let k = 0; k < dim; k++) {
        const scale = k === 0 ? Math.sqrt(1 / frame) : Math.sqrt(2 / frame);
        w[n * dim + k] = scale * Math.cos((Math.PI * (n + 0.5) * k) / frame);
      }
    }
    return w;
  });
  // A grid over ±0.5·sqrt(frame) per coefficient: the range of a full-scale frame's low DCT terms.
  const codebooks = TEST_CODEC_FRAME.map((frame) => {
    const c = new Float32Array(codebookSize * dim);
    const range = 0.5 * Math.sqrt(frame);
    for (let i = 0; i < codebookSize; i++) {
      let rest = i;
      for (let d = 0; d < dim; d++) {
        c[i * dim + d] = -range + ((rest % steps) + 0.5) * ((2 * range) / steps);
        rest = Math.floor(rest / steps);
      }
    }
    return c;
  });
  return { codebookSize, dim, projections, codebooks };
}

function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array) {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: data instanceof Float32Array ? FLOAT : INT64,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function node(
  opType: string,
  input: string[],
  output: string[],
  attrs: Record<string, number> = {},
  floatAttrs: Record<string, number> = {},
) {
  return onnx.NodeProto.create({
    opType,
    input,
    output,
    name: output[0],
    attribute: [
      ...Object.entries(attrs).map(([name, i]) => ({ name, type: ATTR_INT, i })),
      ...Object.entries(floatAttrs).map(([name, f]) => ({ name, type: ATTR_FLOAT, f })),
    ],
  });
}

function model(graph: InstanceType<typeof onnx.GraphProto>, w: TestCodecWeights): Uint8Array {
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'gpt2o-pipe test codec',
    opsetImport: [{ domain: '', version: 17 }],
    graph,
    metadataProps: [
      { key: 'codec', value: 'gpt2o-pipe test codec (not SNAC)' },
      { key: 'sample_rate', value: String(TEST_CODEC_SAMPLE_RATE) },
      { key: 'codebook_size', value: String(w.codebookSize) },
    ],
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The encoder and decoder as ONNX bytes. */
export function buildTestCodec(options: TestCodecOptions = {}): { encoder: Uint8Array; decoder: Uint8Array } {
  const w = testCodecWeights(options);
  const { codebookSize: K, dim: D } = w;
  const { noise = 1e-3, batch = 'batch', samples = 'samples' } = options;
  const encNodes = [];
  const encInits = [];
  const decNodes = [];
  const decInits = [];
  const outputs = [];
  const parts: string[] = [];
  for (const [k, frame] of TEST_CODEC_FRAME.entries()) {
    const codebookT = new Float32Array(D * K); // [D, K]
    const norms = new Float32Array(K);
    for (let i = 0; i < K; i++) {
      for (let d = 0; d < D; d++) {
        const c = w.codebooks[k]![i * D + d]!;
        codebookT[d * K + i] = c;
        norms[i]! += c * c;
      }
    }
    const pinv = new Float32Array(D * frame); // the projection's transpose: its columns are orthonormal
    for (let n = 0; n < frame; n++)
      for (let d = 0; d < D; d++) pinv[d * frame + n] = w.projections[k]![n * D + d]!;
    encInits.push(
      tensor(`frame_shape_${k}`, [3], BigInt64Array.from([0n, -1n, BigInt(frame)])),
      tensor(`projection_${k}`, [frame, D], w.projections[k]!),
      tensor(`codebook_t_${k}`, [D, K], codebookT),
      tensor(`codebook_norms_${k}`, [K], norms),
      tensor(`minus_two_${k}`, [], Float32Array.of(-2)),
    );
    // [B,1,T] → [B,N,frame] → [B,N,D] → distances [B,N,K] (‖c‖² − 2x·c) → nearest code [B,N]
    encNodes.push(
      node('Reshape', ['input_values', `frame_shape_${k}`], [`frames_${k}`]),
      node('MatMul', [`frames_${k}`, `projection_${k}`], [`embedded_${k}`]),
      node('MatMul', [`embedded_${k}`, `codebook_t_${k}`], [`scores_${k}`]),
      node('Mul', [`scores_${k}`, `minus_two_${k}`], [`scaled_${k}`]),
      node('Add', [`scaled_${k}`, `codebook_norms_${k}`], [`distances_${k}`]),
      node('ArgMin', [`distances_${k}`], [`codes_${k}`], { axis: 2, keepdims: 0 }),
    );
    outputs.push(valueInfo(`codes_${k}`, INT64, [batch, `frames_${k}`]));
    // codes [B,N] → points [B,N,D] → frames [B,N,frame] → [B,1,T]
    decInits.push(
      tensor(`codebook_${k}`, [K, D], w.codebooks[k]!),
      tensor(`inverse_${k}`, [D, frame], pinv),
      tensor(`audio_shape_${k}`, [3], BigInt64Array.from([0n, 1n, -1n])),
    );
    decNodes.push(
      node('Gather', [`codebook_${k}`, `codes_${k}`], [`points_${k}`], { axis: 0 }),
      node('MatMul', [`points_${k}`, `inverse_${k}`], [`frames_${k}`]),
      node('Reshape', [`frames_${k}`, `audio_shape_${k}`], [`audio_${k}`]),
    );
    parts.push(`audio_${k}`);
  }
  decInits.push(tensor('third', [], Float32Array.of(1 / 3)));
  decNodes.push(
    node('Add', [parts[0]!, parts[1]!], ['audio_01']),
    node('Add', ['audio_01', parts[2]!], ['audio_sum']),
    node('Mul', ['audio_sum', 'third'], [noise > 0 ? 'audio_clean' : 'audio_values']),
  );
  if (noise > 0) {
    decNodes.push(
      node('RandomNormalLike', ['audio_clean'], ['noise'], { dtype: FLOAT }, { mean: 0, scale: noise }),
      node('Add', ['audio_clean', 'noise'], ['audio_values']),
    );
  }
  const encoder = model(
    onnx.GraphProto.create({
      name: 'test_codec_encoder',
      node: encNodes,
      initializer: encInits,
      input: [valueInfo('input_values', FLOAT, [batch, 1, samples])],
      output: outputs,
    }),
    w,
  );
  const decoder = model(
    onnx.GraphProto.create({
      name: 'test_codec_decoder',
      node: decNodes,
      initializer: decInits,
      input: TEST_CODEC_FRAME.map((_, k) => valueInfo(`codes_${k}`, INT64, [batch, `frames_${k}`])),
      output: [valueInfo('audio_values', FLOAT, [batch, 1, 'samples'])],
    }),
    w,
  );
  return { encoder, decoder };
}

/** The encoder's math in plain JS: the reference the ONNX model is tested against. */
export function encodeReference(w: TestCodecWeights, audio: Float32Array): Uint16Array[] {
  return TEST_CODEC_FRAME.map((frame, k) => {
    const n = audio.length / frame;
    const codes = new Uint16Array(n);
    const x = new Float64Array(w.dim);
    for (let f = 0; f < n; f++) {
      x.fill(0);
      for (let s = 0; s < frame; s++)
        for (let d = 0; d < w.dim; d++) x[d]! += audio[f * frame + s]! * w.projections[k]![s * w.dim + d]!;
      let best = 0;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (let i = 0; i < w.codebookSize; i++) {
        let distance = 0;
        for (let d = 0; d < w.dim; d++) distance += (x[d]! - w.codebooks[k]![i * w.dim + d]!) ** 2;
        if (distance < bestDistance) {
          bestDistance = distance;
          best = i;
        }
      }
      codes[f] = best;
    }
    return codes;
  });
}

/** Writes the test codec as `encoder.onnx` and `decoder.onnx` into `dir` (created if needed). */
export function writeTestCodec(dir: string): void {
  const codec = buildTestCodec();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'encoder.onnx'), codec.encoder);
  writeFileSync(join(dir, 'decoder.onnx'), codec.decoder);
}
