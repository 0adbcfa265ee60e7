// An in-place radix-2 FFT (iterative Cooley–Tukey), enough for the report's spectrograms: a few
// hundred frames of 512 points each. Ours rather than a dependency, as it is forty lines.

/** Twiddle factors for size `n` (a power of two): cos and sin of -2πk/n for k < n/2. */
export interface FftPlan {
  n: number;
  cos: Float64Array;
  sin: Float64Array;
  /** bitReversed[i]: the index i's bits reversed over log2(n) bits. */
  bitReversed: Uint32Array;
}

/** Precomputes what every transform of size `n` shares; `n` must be a power of two ≥ 2. */
export function planFft(n: number): FftPlan {
  if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0)
    throw new RangeError(`FFT size ${n} is not a power of two ≥ 2`);
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let k = 0; k < n / 2; k++) {
    cos[k] = Math.cos((-2 * Math.PI * k) / n);
    sin[k] = Math.sin((-2 * Math.PI * k) / n);
  }
  const bits = Math.log2(n);
  const bitReversed = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    bitReversed[i] = r;
  }
  return { n, cos, sin, bitReversed };
}

/** X[k] = Σ x[t]·e^(-2πikt/n), computed in place on `re` and `im` (both of length plan.n). */
export function fft(plan: FftPlan, re: Float64Array, im: Float64Array): void {
  const { n, cos, sin, bitReversed } = plan;
  for (let i = 0; i < n; i++) {
    const j = bitReversed[i]!;
    if (j > i) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let size = 2; size <= n; size *= 2) {
    const half = size / 2;
    const step = n / size; // twiddle stride for this butterfly size
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step]!;
        const wi = sin[k * step]!;
        const a = start + k;
        const b = a + half;
        const tr = re[b]! * wr - im[b]! * wi;
        const ti = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
      }
    }
  }
}
