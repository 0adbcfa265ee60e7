// A small seeded PRNG (SplitMix32 steps + Box–Muller) owned by us, so weight init and sampling are
// reproducible for a seed regardless of backend or tfjs version, and the state fits in JSON.

export class Rng {
  constructor(private state: number) {
    this.state = state >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  }

  /** Standard normal samples (Box–Muller), scaled by `std`. */
  normal(count: number, std: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) {
      const u = 1 - this.next(); // (0, 1]: log(u) is finite
      const r = Math.sqrt(-2 * Math.log(u)) * std;
      const theta = 2 * Math.PI * this.next();
      out[i] = r * Math.cos(theta);
      if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }

  get snapshot(): number {
    return this.state;
  }
}
