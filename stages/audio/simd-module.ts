// The audio hot loops as a tiny WebAssembly module using 128-bit SIMD: the resampler's dot products
// (four float32 multiply-adds per instruction; plain JS reaches ~0.75 GMAC/s here, the kernel
// ~8), stereo mixing, float → PCM16 and PCM16 → float. Each is checked against a plain-JS loop in
// the tests; simd-kernel.ts wraps the exports for their callers.
//
// The module is assembled from bytes below (no toolchain needed at build time). It exports
// `memory`, mix(), pcm16() and i16tof32() (documented where they are assembled) and
// drain(bank, hist, out, count, taps, up, down, phase, position): for each of
// `count` outputs it dots `taps` (a multiple of 16) filter taps of phase `phase` with the history
// at `position`, writes the float to out[n], and advances phase/position; the final phase and
// position are stored at bytes 0 and 4.

const I32 = 0x7f;
const V128 = 0x7b;
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const i32 = (n: number) => [0x41, n]; // small non-negative constants only (< 64)
const ADD = 0x6a;
const SUB = 0x6b;
const MUL = 0x6c;
const SHL = 0x74;
const GE_U = 0x4f;
const LT_U = 0x49;
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = 0x0b;
const brIf = (depth: number) => [0x0d, depth];
const br = (depth: number) => [0x0c, depth];
const V128_ZERO = [0xfd, 0x0c, ...new Array(16).fill(0)];
const v128Load = (offset: number) => [0xfd, 0x00, 0x00, offset];
const F32X4_MUL = [0xfd, 0xe6, 0x01];
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const lane = (n: number) => [0xfd, 0x1f, n];
const F32_ADD = 0x92;
const F32_STORE = [0x38, 0x02, 0x00];
const I32_STORE = [0x36, 0x02, 0x00];

// Params 0-8: bank hist out count taps up down phase position; locals: i32 n j base h pb ph,
// v128 acc0-acc3. Four independent accumulators keep the adds from waiting on each other.
const [bank, hist, out, count, taps, up, down, phase, position, n, j, base, h, pb, ph] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
];
const ACC = [15, 16, 17, 18];
const acc = ACC[0]!;
const addr = (ptr: number, index: number) => [...get(ptr), ...get(index), ...i32(2), SHL, ADD];
/** `for (i = current; i < limit; i += step) body` — the counter starts at whatever local i holds. */
const countedLoop = (i: number, limit: number, step: number, body: number[]) => [
  ...BLOCK,
  ...LOOP,
  ...get(i),
  ...get(limit),
  GE_U,
  ...brIf(1),
  ...body,
  ...get(i),
  ...i32(step),
  ADD,
  ...set(i),
  ...br(0),
  END,
  END,
];
// acc_k += bank[pb + 16k bytes] * hist[ph + 16k bytes], four floats at a time.
const mac = (k: number) => [
  ...get(ACC[k]!),
  ...get(pb),
  ...v128Load(16 * k),
  ...get(ph),
  ...v128Load(16 * k),
  ...F32X4_MUL,
  ...F32X4_ADD,
  ...set(ACC[k]!),
];

const body = [
  ...[0x02, 0x06, I32, 0x04, V128], // locals: 6 × i32, 4 × v128
  ...countedLoop(n, count, 1, [
    ...get(bank),
    ...get(phase),
    ...get(taps),
    MUL,
    ...i32(2),
    SHL,
    ADD,
    ...set(base),
    ...get(hist),
    ...get(position),
    ...i32(2),
    SHL,
    ADD,
    ...set(h),
    ...ACC.flatMap((a) => [...V128_ZERO, ...set(a)]),
    ...i32(0),
    ...set(j),
    ...countedLoop(j, taps, 16, [
      ...addr(base, j),
      ...set(pb),
      ...addr(h, j),
      ...set(ph),
      ...mac(0),
      ...mac(1),
      ...mac(2),
      ...mac(3),
    ]),
    ...addr(out, n),
    ...get(ACC[0]!),
    ...get(ACC[1]!),
    ...F32X4_ADD,
    ...get(ACC[2]!),
    ...get(ACC[3]!),
    ...F32X4_ADD,
    ...F32X4_ADD,
    ...tee(acc),
    ...lane(0),
    ...get(acc),
    ...lane(1),
    F32_ADD,
    ...get(acc),
    ...lane(2),
    F32_ADD,
    ...get(acc),
    ...lane(3),
    F32_ADD,
    ...F32_STORE,
    ...get(phase),
    ...get(down),
    ADD,
    ...set(phase),
    ...BLOCK,
    ...LOOP,
    ...get(phase),
    ...get(up),
    LT_U,
    ...brIf(1),
    ...get(phase),
    ...get(up),
    SUB,
    ...set(phase),
    ...get(position),
    ...i32(1),
    ADD,
    ...set(position),
    ...br(0),
    END,
    END,
  ]),
  ...i32(0),
  ...get(phase),
  ...I32_STORE,
  ...i32(4),
  ...get(position),
  ...I32_STORE,
  END,
];

function uleb(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

// mix(left, right, dst, n): dst[i] = (left[i] + right[i]) · 0.5 for i < n (n a multiple of 4).
const V128_STORE = [0xfd, 0x0b, 0x00, 0x00];
const f32x4Const = (value: number) => {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  for (let k = 0; k < 4; k++) view.setFloat32(4 * k, value, true);
  return [0xfd, 0x0c, ...bytes];
};
const MIX_I = 4;
const mixBody = [
  ...[0x01, 0x01, I32], // locals: i
  ...countedLoop(MIX_I, 3, 4, [
    ...addr(2, MIX_I),
    ...addr(0, MIX_I),
    ...v128Load(0),
    ...addr(1, MIX_I),
    ...v128Load(0),
    ...F32X4_ADD,
    ...f32x4Const(0.5),
    ...F32X4_MUL,
    ...V128_STORE,
  ]),
  END,
];

// pcm16(src, dst, n): 16-bit PCM of n floats (n a multiple of 8): scale by 32767, round to nearest
// (ties to even), then saturate, so out-of-range samples clip instead of wrapping around.
const F32X4_NEAREST = [0xfd, 0x6a];
const I32X4_TRUNC_SAT_F32X4_S = [0xfd, 0xf8, 0x01];
const I16X8_NARROW_I32X4_S = [0xfd, 0x85, 0x01];
const PCM_I = 3;
const toInt32x4 = (offset: number) => [
  ...addr(0, PCM_I),
  ...v128Load(offset),
  ...f32x4Const(32767),
  ...F32X4_MUL,
  ...F32X4_NEAREST,
  ...I32X4_TRUNC_SAT_F32X4_S,
];
const pcmBody = [
  ...[0x01, 0x01, I32], // locals: i
  ...countedLoop(PCM_I, 2, 8, [
    ...get(1),
    ...get(PCM_I),
    ...i32(1),
    SHL,
    ADD, // dst + 2i
    ...toInt32x4(0),
    ...toInt32x4(16),
    ...I16X8_NARROW_I32X4_S,
    ...V128_STORE,
  ]),
  END,
];

// i16tof32(src, dst, n): dst[i] = src[i] / 32768 for n int16 samples (n a multiple of 8): widen
// eight samples to two i32x4, convert, scale. The read path of tokenize (16-bit WAV → model input).
const I32X4_EXTEND_LOW_I16X8_S = [0xfd, 0xa7, 0x01];
const I32X4_EXTEND_HIGH_I16X8_S = [0xfd, 0xa8, 0x01];
const F32X4_CONVERT_I32X4_S = [0xfd, 0xfa, 0x01];
const [I16_I, I16_V] = [3, 4];
const dstAddr = [...get(1), ...get(I16_I), ...i32(2), SHL, ADD];
const i16Body = [
  ...[0x02, 0x01, I32, 0x01, V128], // locals: i, v
  ...countedLoop(I16_I, 2, 8, [
    ...get(0),
    ...get(I16_I),
    ...i32(1),
    SHL,
    ADD,
    ...v128Load(0),
    ...set(I16_V),
    ...dstAddr,
    ...get(I16_V),
    ...I32X4_EXTEND_LOW_I16X8_S,
    ...F32X4_CONVERT_I32X4_S,
    ...f32x4Const(1 / 32768),
    ...F32X4_MUL,
    ...V128_STORE,
    ...dstAddr,
    ...get(I16_V),
    ...I32X4_EXTEND_HIGH_I16X8_S,
    ...F32X4_CONVERT_I32X4_S,
    ...f32x4Const(1 / 32768),
    ...F32X4_MUL,
    ...[0xfd, 0x0b, 0x00, 0x10], // v128.store offset=16
  ]),
  END,
];

const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
const funcType = (params: number) => [0x60, params, ...new Array(params).fill(I32), 0];
const code = (b: number[]) => [...uleb(b.length), ...b];

const MODULE_BYTES = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [3, ...funcType(9), ...funcType(4), ...funcType(3)]),
  ...section(3, [4, 0, 1, 2, 2]),
  ...section(5, [1, 0x00, 1]),
  ...section(7, [
    5,
    ...name('drain'),
    0x00,
    0,
    ...name('mix'),
    0x00,
    1,
    ...name('pcm16'),
    0x00,
    2,
    ...name('i16tof32'),
    0x00,
    3,
    ...name('memory'),
    0x02,
    0,
  ]),
  ...section(10, [4, ...code(body), ...code(mixBody), ...code(pcmBody), ...code(i16Body)]),
]);

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable (the JS loops are used then). */
export function simdModule(): WebAssembly.Module | null {
  if (compiled === undefined)
    compiled = WebAssembly.validate(MODULE_BYTES) ? new WebAssembly.Module(MODULE_BYTES) : null;
  return compiled;
}
