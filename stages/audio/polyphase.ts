// A streaming polyphase windowed-sinc resampler: the fast path for `resample`.
//
// libsamplerate-js (SINC_BEST) runs at ~12× realtime here, far below ffmpeg (~800×), so we resample
// ourselves and test the result against libsamplerate's output (test/unit/polyphase.test.ts).
// For a rational ratio L/M (24000/44100 = 80/147) output sample n sits at input position n·M/L;
// its value is the dot product of the input around that position with one of L precomputed
// phases of a Kaiser-windowed sinc low-pass whose cut-off is below the lower of the two Nyquist
// frequencies. State carries across chunks, so any chunking gives the same samples. The dot
// products run in a WebAssembly SIMD kernel (simd-kernel.ts) where available, else in plain JS.
import { SimdKernel } from './simd-kernel.ts';

/** Filter design per quality: zero crossings of the sinc per side, Kaiser beta, pass-band edge. */
export const QUALITIES = {
  best: { zeros: 32, beta: 10.0, rolloff: 0.95 },
  high: { zeros: 16, beta: 8.6, rolloff: 0.92 },
  fast: { zeros: 8, beta: 6.0, rolloff: 0.88 },
} as const;

export type Quality = keyof typeof QUALITIES;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

interface FilterBank {
  bank: Float32Array; // [up, taps], read-only once made
  taps: number;
  half: number;
}

/** Banks by "up:down:quality": every chapter of a book has the same rates, and a bank takes ~12 ms. */
const banks = new Map<string, FilterBank>();

/** The Kaiser-windowed sinc, one phase per output position modulo `up`. */
function filterBank(up: number, down: number, quality: Quality): FilterBank {
  const id = `${up}:${down}:${quality}`;
  const known = banks.get(id);
  if (known) return known;
  const { zeros, beta, rolloff } = QUALITIES[quality];
  // Cut-off in cycles per input sample: below the lower Nyquist, scaled by the roll-off.
  const cutoff = 0.5 * Math.min(1, up / down) * rolloff;
  const half = Math.ceil(zeros / (2 * cutoff)); // half-width in input samples
  // Padded with zero taps to a multiple of 16, the SIMD kernel's stride.
  const taps = Math.ceil((2 * half) / 16) * 16;
  const bank = new Float32Array(up * taps);
  const i0beta = besselI0(beta);
  for (let p = 0; p < up; p++) {
    const frac = p / up; // output position lies `frac` input samples after tap `half - 1`
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const t = j - (half - 1) - frac; // distance from the output position, in input samples
      const x = 2 * cutoff * t;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = Math.abs(t) >= half ? 0 : besselI0(beta * Math.sqrt(1 - (t / half) ** 2)) / i0beta;
      // (taps past 2·half have |t| ≥ half: w = 0, the padding)
      const h = 2 * cutoff * sinc * w;
      bank[p * taps + j] = h;
      sum += h;
    }
    // Normalize each phase to unit DC gain, so a constant stays exactly constant.
    for (let j = 0; j < taps; j++) bank[p * taps + j]! /= sum;
  }
  const made = { bank, taps, half };
  banks.set(id, made);
  return made;
}

export class PolyphaseResampler {
  readonly up: number; // L
  readonly down: number; // M
  readonly taps: number; // per phase
  private readonly bank: Float32Array; // [L, taps]
  private history: Float32Array; // mono input not yet fully consumed, with `taps` samples of look-back
  private historyLength = 0;
  private phase = 0; // n·M mod L for the next output sample
  private position = 0; // index in history of the first tap of the next output sample
  private consumed = 0; // input samples seen
  private produced = 0; // output samples returned

  readonly kernel: SimdKernel | undefined;

  /** `simd: false` forces the plain-JS loops (the reference the SIMD kernel is tested against). */
  constructor(
    inputRate: number,
    outputRate: number,
    quality: Quality = 'best',
    options: { simd?: boolean } = {},
  ) {
    if (!(inputRate > 0 && outputRate > 0)) throw new RangeError('sample rates must be positive');
    const g = gcd(inputRate, outputRate);
    this.up = outputRate / g;
    this.down = inputRate / g;
    const { bank, taps, half } = filterBank(this.up, this.down, quality);
    this.bank = bank;
    this.taps = taps;
    this.kernel = options.simd === false ? undefined : SimdKernel.create(this.bank);
    // With the kernel, the history lives in its memory, so the input is mixed straight into it.
    this.history = this.kernel ? this.kernel.history(4096) : new Float32Array(Math.max(4096, this.taps * 2));
    // Prime with half a filter of zeros: output 0 is centred on input 0.
    this.historyLength = half - 1;
  }

  /** Output samples for the given mono input (any length); call flush() after the last chunk. */
  process(input: Float32Array): Float32Array {
    return this.processChannels([input]);
  }

  /**
   * Output samples for planar input, mixed to mono on the way in ((L+R)/2 for stereo): one pass
   * that writes straight into the filter's history, with no intermediate mono buffer.
   */
  processChannels(channels: Float32Array[]): Float32Array {
    this.consumed += channels[0]!.length;
    this.append(channels);
    const out = this.drain(this.historyLength);
    this.produced += out.length;
    return out;
  }

  /**
   * Pads with zeros so the tail of the signal comes out. The total output is exactly
   * ceil(inputSamples · L / M) samples, so durations are preserved to within one output sample.
   */
  flush(): Float32Array {
    this.append([new Float32Array(this.taps)]);
    const total = Math.ceil((this.consumed * this.up) / this.down);
    const out = this.drain(this.historyLength);
    const keep = Math.max(0, Math.min(out.length, total - this.produced));
    this.produced += keep;
    return out.subarray(0, keep);
  }

  private append(channels: Float32Array[]): void {
    const n = channels[0]!.length;
    // The kernel's memory may have grown since (for output), which detaches old views.
    if (this.kernel) this.history = this.kernel.history(this.historyLength);
    // Drop what no future output needs, then grow if required.
    if (this.position > 0) {
      this.history.copyWithin(0, this.position, this.historyLength);
      this.historyLength -= this.position;
      this.position = 0;
    }
    const needed = this.historyLength + n;
    if (this.kernel) this.history = this.kernel.history(needed);
    else if (needed > this.history.length) {
      const grown = new Float32Array(Math.max(this.history.length * 2, needed));
      grown.set(this.history.subarray(0, this.historyLength));
      this.history = grown;
    }
    if (this.kernel && channels.length === 2) {
      this.kernel.mixStereo(channels[0]!, channels[1]!, this.historyLength);
      this.history = this.kernel.history(needed); // staging may have grown the memory
    } else mixInto(this.history, this.historyLength, channels);
    this.historyLength += n;
  }

  private drain(available: number): Float32Array {
    const { taps, up, down, bank, history } = this;
    // Output n needs history[position .. position + taps).
    const count = Math.max(0, Math.ceil(((available - taps - this.position + 1) * up - this.phase) / down));
    if (this.kernel) {
      const r = this.kernel.drain(count, taps, up, down, this.phase, this.position);
      this.phase = r.phase;
      this.position = r.position;
      return r.out;
    }
    const out = new Float32Array(count);
    let position = this.position;
    let phase = this.phase;
    for (let n = 0; n < count; n++) {
      const base = phase * taps;
      let acc0 = 0;
      let acc1 = 0;
      let acc2 = 0;
      let acc3 = 0;
      // Four accumulators break the add dependency chain; taps is always even, often a multiple of 4.
      let j = 0;
      for (; j + 3 < taps; j += 4) {
        acc0 += bank[base + j]! * history[position + j]!;
        acc1 += bank[base + j + 1]! * history[position + j + 1]!;
        acc2 += bank[base + j + 2]! * history[position + j + 2]!;
        acc3 += bank[base + j + 3]! * history[position + j + 3]!;
      }
      for (; j < taps; j++) acc0 += bank[base + j]! * history[position + j]!;
      out[n] = acc0 + acc1 + acc2 + acc3;
      phase += down;
      while (phase >= up) {
        phase -= up;
        position++;
      }
    }
    this.position = position;
    this.phase = phase;
    return out;
  }
}

/** Writes the average of the channels into `target` from `offset` (a plain copy for mono). */
function mixInto(target: Float32Array, offset: number, channels: Float32Array[]): void {
  const n = channels[0]!.length;
  if (channels.length === 1) {
    target.set(channels[0]!, offset);
  } else if (channels.length === 2) {
    const left = channels[0]!;
    const right = channels[1]!;
    for (let i = 0; i < n; i++) target[offset + i] = (left[i]! + right[i]!) * 0.5;
  } else {
    const scale = 1 / channels.length;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (const channel of channels) sum += channel[i]!;
      target[offset + i] = sum * scale;
    }
  }
}
