// A minimal PNG encoder: 8-bit indexed colour (a palette of up to 256 RGB colours, one byte a
// pixel: a third of RGB's size before deflate), no interlace, filter 0 on every row, one IDAT
// deflated by node:zlib. Enough for a spectrogram embedded as a data URI.
import { deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// CRC-32 (ISO 3309, as PNG's chunks use), one table for all calls.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** `indices`: width × height palette indices, row by row from the top; `palette`: RGB triples. */
export function encodePng(width: number, height: number, indices: Uint8Array, palette: Uint8Array): Buffer {
  if (indices.length !== width * height)
    throw new RangeError(`${indices.length} pixels are not ${width} × ${height}`);
  if (palette.length % 3 !== 0 || palette.length === 0 || palette.length > 256 * 3)
    throw new RangeError(`a palette of ${palette.length} bytes is not 1 to 256 RGB colours`);
  const colors = palette.length / 3;
  if (indices.some((i) => i >= colors))
    throw new RangeError(`an index is past the palette's ${colors} colours`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 3; // colour type: indexed
  // bytes 10-12: compression 0, filter method 0, no interlace
  const raw = Buffer.alloc(height * (1 + width));
  for (let y = 0; y < height; y++) {
    // Each row starts with its filter type, 0 (none).
    raw.set(indices.subarray(y * width, (y + 1) * width), y * (1 + width) + 1);
  }
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('PLTE', palette),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
