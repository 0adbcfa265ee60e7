// Writes NumPy .npy files (format 1.0) of little-endian uint16, the shard format nanoGPT-style
// loaders (and the original GPT2o scripts) read with np.load. Streaming: the header carries the
// final length, so the writer is given the count up front.
import { closeSync, openSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** The .npy header for a 1-D little-endian uint16 array of `length` elements, padded to 64 bytes. */
export function npyHeader(length: number): Buffer {
  const dict = `{'descr': '<u2', 'fortran_order': False, 'shape': (${length},), }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1; // magic, version, header length, dict, \n
  const total = Math.ceil(unpadded / 64) * 64;
  const header = Buffer.alloc(total, 0x20);
  Buffer.from(MAGIC).copy(header, 0);
  header[6] = 1; // major version
  header[7] = 0;
  header.writeUInt16LE(total - 10, 8);
  header.write(dict, 10, 'latin1');
  header[total - 1] = 0x0a;
  return header;
}

/** Writes `tokens` as a .npy file. */
export function writeNpy(path: string, tokens: Uint16Array): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, npyHeader(tokens.length));
    writeSync(fd, littleEndianBytes(tokens));
  } finally {
    closeSync(fd);
  }
}

/** The array's bytes as '<u2': as they are on little-endian machines (x64, arm64), swapped elsewhere. */
function littleEndianBytes(tokens: Uint16Array): Uint8Array {
  const bytes = new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
  if (endianness() === 'LE') return bytes;
  const out = new Uint8Array(bytes.length);
  const view = new DataView(out.buffer);
  for (const [i, t] of tokens.entries()) view.setUint16(2 * i, t, true);
  return out;
}
