// Reads and writes safetensors files (the format Hugging Face loads): 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian tensors.
// Only F32 is needed here. Tensors are written sorted by name, as the reference implementation does.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, NamedTensor>,
  metadata: Record<string, string> = {},
): void {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors.get(name)!;
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length)
      throw new RangeError(`${name}: shape [${shape}] holds ${count} values, got ${data.length}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(jsonBytes.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, jsonBytes);
    for (const name of names) {
      const { data } = tensors.get(name)!;
      writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    closeSync(fd);
  }
}

export function readSafetensors(path: string): {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
} {
  const bytes = readFileSync(path);
  const fail = (why: string) => new Error(`${path} is not a valid safetensors file: ${why}`);
  if (bytes.length < 8) throw fail('shorter than its 8-byte header length');
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (8 + headerLength > bytes.length) throw fail(`header length ${headerLength} runs past the end`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(bytes.toString('utf8', 8, 8 + headerLength));
  } catch {
    throw fail('its header is not JSON');
  }
  const base = 8 + headerLength;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as unknown as Record<string, string>;
      continue;
    }
    if (entry.dtype !== 'F32') throw fail(`${name} is ${entry.dtype}; only F32 is supported`);
    const [start, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end - start !== 4 * count || base + end > bytes.length)
      throw fail(`${name}: offsets [${start}, ${end}] do not hold shape [${entry.shape}]`);
    // Copy: the file buffer's offset need not be 4-byte aligned.
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(base + start, base + end));
    tensors.set(name, { shape: entry.shape, data });
  }
  return { tensors, metadata };
}
