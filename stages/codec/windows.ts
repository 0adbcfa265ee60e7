// Cuts a stream of mono samples into fixed windows for the encoder: each window holds `size`
// samples (a multiple of the codec's pad multiple, so coarse frames tile the audio with no padding
// inside); the last one is zero-padded and remembers how many of its samples are real.

export interface Window {
  samples: Float32Array;
  /** Real samples in this window (the rest is padding). */
  valid: number;
}

export class Windower {
  private current: Float32Array;
  private filled = 0;

  constructor(readonly size: number) {
    this.current = new Float32Array(size);
  }

  /** Adds samples; returns the windows they completed. */
  push(samples: Float32Array): Window[] {
    const done: Window[] = [];
    let offset = 0;
    while (offset < samples.length) {
      const n = Math.min(samples.length - offset, this.size - this.filled);
      this.current.set(samples.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.size) {
        done.push({ samples: this.current, valid: this.size });
        this.current = new Float32Array(this.size);
        this.filled = 0;
      }
    }
    return done;
  }

  /** The last, partial window (zero-padded), if any samples are left. */
  finish(): Window | undefined {
    if (this.filled === 0) return undefined;
    const last = { samples: this.current, valid: this.filled };
    this.current = new Float32Array(this.size);
    this.filled = 0;
    return last;
  }
}
