// Reads 1-D little-endian uint16 .npy files (what our stages write, and what np.save writes for a
// uint16 vector), checking the header instead of trusting it.
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { StageError } from '../../src/stage-api/index.ts';

export function readNpyUint16(path: string): Uint16Array {
  const fail = (why: string) => new StageError(`${path} is not a 1-D uint16 .npy file: ${why}`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw fail(`cannot read it (${(error as NodeJS.ErrnoException).code})`);
  }
  if (bytes.length < 10 || bytes[0] !== 0x93 || bytes.toString('latin1', 1, 6) !== 'NUMPY')
    throw fail('no NUMPY magic');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw fail(`unknown format version ${major}`);
  if (major > 1 && bytes.length < 12) throw fail('the header is cut short');
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLength;
  if (start > bytes.length) throw fail(`its header says ${headerLength} bytes, more than the file holds`);
  const header = bytes.toString('latin1', major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'<u2'/.test(header)) throw fail(`dtype is not '<u2' (${header.trim()})`);
  if (/'fortran_order':\s*True/.test(header)) throw fail('fortran_order is True');
  const shape = /'shape':\s*\((\d+),?\)/.exec(header);
  if (!shape) throw fail(`shape is not 1-D (${header.trim()})`);
  const length = Number(shape[1]);
  if (bytes.length - start !== 2 * length)
    throw fail(`holds ${bytes.length - start} data bytes, header says ${2 * length}`);
  if (endianness() === 'LE')
    return new Uint16Array(
      bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + 2 * length),
    );
  const out = new Uint16Array(length);
  for (let i = 0; i < length; i++) out[i] = bytes.readUInt16LE(start + 2 * i);
  return out;
}
