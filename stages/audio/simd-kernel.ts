// Wrappers around the SIMD module's exports (simd-module.ts), each owning an instance and laying
// out its memory: the resampler's kernel, float → PCM16 for the WAV writer, and PCM16 → float for
// tokenize's read path. Each returns null/undefined where WebAssembly SIMD is unavailable.
import { simdModule } from './simd-module.ts';

const HEADER = 16;
const PAGE = 65536;

/**
 * One resampler's kernel instance. Its memory holds, in order: 16 bytes of results, the filter
 * bank, the history (input samples, capacity grows on demand) and the output of the last call.
 */
export class SimdKernel {
  private readonly memory: WebAssembly.Memory;
  private readonly drainFn: (...args: number[]) => void;
  private readonly mixFn: (...args: number[]) => void;
  private readonly histPtr: number;
  private capacity = 0; // history capacity in samples

  private constructor(instance: WebAssembly.Instance, bankLength: number) {
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.drainFn = instance.exports.drain as (...args: number[]) => void;
    this.mixFn = instance.exports.mix as (...args: number[]) => void;
    this.histPtr = HEADER + bankLength * 4;
  }

  static create(bank: Float32Array): SimdKernel | undefined {
    const module = simdModule();
    if (!module) return undefined;
    const kernel = new SimdKernel(new WebAssembly.Instance(module), bank.length);
    kernel.reserve(HEADER + bank.length * 4);
    new Float32Array(kernel.memory.buffer, HEADER, bank.length).set(bank);
    return kernel;
  }

  /**
   * A view of the history with room for at least `samples` (contents kept). Views die when the
   * memory grows, so callers take a fresh one after every call that may grow it.
   */
  history(samples: number): Float32Array {
    if (samples > this.capacity) {
      this.capacity = Math.max(samples, this.capacity * 2);
      this.reserve(this.histPtr + this.capacity * 4);
    }
    return new Float32Array(this.memory.buffer, this.histPtr, this.capacity);
  }

  /**
   * Writes (left + right) / 2 into the history from sample `offset`, which must fit the capacity.
   * The two channels are staged in the output area (free between calls) and mixed four at a time.
   */
  mixStereo(left: Float32Array, right: Float32Array, offset: number): void {
    const n = left.length;
    const stage = this.histPtr + this.capacity * 4;
    this.reserve(stage + n * 8);
    new Float32Array(this.memory.buffer, stage, n).set(left);
    new Float32Array(this.memory.buffer, stage + n * 4, n).set(right);
    const whole = n - (n % 4);
    this.mixFn(stage, stage + n * 4, this.histPtr + offset * 4, whole);
    const history = new Float32Array(this.memory.buffer, this.histPtr, this.capacity);
    for (let i = whole; i < n; i++) history[offset + i] = (left[i]! + right[i]!) * 0.5;
  }

  /** Computes `count` outputs from the history; returns a copy of them and the new phase/position. */
  drain(
    count: number,
    taps: number,
    up: number,
    down: number,
    phase: number,
    position: number,
  ): { out: Float32Array; phase: number; position: number } {
    const outPtr = this.histPtr + this.capacity * 4;
    this.reserve(outPtr + count * 4);
    this.drainFn(HEADER, this.histPtr, outPtr, count, taps, up, down, phase, position);
    const state = new Int32Array(this.memory.buffer, 0, 2);
    return {
      out: new Float32Array(this.memory.buffer, outPtr, count).slice(),
      phase: state[0]!,
      position: state[1]!,
    };
  }

  private reserve(bytes: number): void {
    const missing = bytes - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE));
  }
}

/** Float → 16-bit PCM with the SIMD kernel, in blocks; null where SIMD is unavailable. */
export class Pcm16Converter {
  private readonly memory: WebAssembly.Memory;
  private readonly convert: (src: number, dst: number, n: number) => void;

  private constructor(instance: WebAssembly.Instance) {
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.convert = instance.exports.pcm16 as (src: number, dst: number, n: number) => void;
  }

  static create(): Pcm16Converter | null {
    const module = simdModule();
    return module ? new Pcm16Converter(new WebAssembly.Instance(module)) : null;
  }

  /** 16-bit samples for `samples` (a new array; the tail that is not a multiple of 8 is done in JS). */
  toPcm16(samples: Float32Array): Int16Array {
    const n = samples.length;
    const src = HEADER;
    const dst = src + n * 4;
    const missing = dst + n * 2 - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE));
    new Float32Array(this.memory.buffer, src, n).set(samples);
    const whole = n - (n % 8);
    this.convert(src, dst, whole);
    const out = new Int16Array(this.memory.buffer, dst, n).slice();
    for (let i = whole; i < n; i++) out[i] = toPcm16Sample(samples[i]!);
    return out;
  }
}

/** One sample as the kernel converts it: ×32767, round half to even, clip to 16 bits. */
export function toPcm16Sample(sample: number): number {
  const v = Math.fround(sample * 32767); // the kernel multiplies in float32
  if (v >= 32767) return 32767;
  if (v <= -32768) return -32768;
  const r = Math.round(v);
  // Math.round rounds halves up; the kernel (f32x4.nearest) rounds them to even.
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * 16-bit samples → floats in [-1, 1) with the SIMD kernel, over two fixed regions of its memory:
 * `rawBytes` (where a reader puts int16 data) and `out` (where the floats land). The memory never
 * grows after creation, so both views stay valid; null where SIMD is unavailable.
 */
export class Int16ToFloat {
  readonly rawBytes: Buffer;
  readonly out: Float32Array;
  private readonly convertFn: (src: number, dst: number, n: number) => void;
  private readonly rawPtr = HEADER;
  private readonly outPtr: number;

  private constructor(instance: WebAssembly.Instance, rawSamples: number, outSamples: number) {
    const memory = instance.exports.memory as WebAssembly.Memory;
    this.outPtr = this.rawPtr + Math.ceil((rawSamples * 2) / 16) * 16;
    const needed = this.outPtr + outSamples * 4;
    if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / PAGE));
    this.rawBytes = Buffer.from(memory.buffer, this.rawPtr, rawSamples * 2);
    this.out = new Float32Array(memory.buffer, this.outPtr, outSamples);
    this.convertFn = instance.exports.i16tof32 as (src: number, dst: number, n: number) => void;
  }

  static create(rawSamples: number, outSamples: number): Int16ToFloat | null {
    const module = simdModule();
    return module ? new Int16ToFloat(new WebAssembly.Instance(module), rawSamples, outSamples) : null;
  }

  /** Converts the first `n` samples of rawBytes into out[offset, offset + n). */
  convert(n: number, offset: number): void {
    const whole = n - (n % 8);
    this.convertFn(this.rawPtr, this.outPtr + offset * 4, whole);
    for (let i = whole; i < n; i++) this.out[offset + i] = this.rawBytes.readInt16LE(2 * i) / 32768;
  }
}
