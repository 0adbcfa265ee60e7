// Test inputs made of bytes: reproducible incompressible data, and zips of named files (yazl).
import yazl from 'yazl';

/** Pseudo-random bytes (xorshift32): incompressible, and the same for the same seed. */
export function seededBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A zip holding `files` (name → content); `compress: false` stores them. */
export async function zipOf(
  files: Record<string, Uint8Array>,
  options: { compress?: boolean } = {},
): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(files))
    zip.addBuffer(Buffer.from(data), name, { compress: options.compress ?? true });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A zip whose entry `placeholder` is renamed `raw` in the bytes: yazl refuses unsafe names
 * (`../x.mp3`, absolute paths), which the zip-slip tests need. The two names must be as long.
 */
export async function zipWithRawName(
  files: Record<string, Uint8Array>,
  placeholder: string,
  raw: string,
): Promise<Buffer> {
  if (placeholder.length !== raw.length) throw new Error(`"${placeholder}" and "${raw}" differ in length`);
  const zip = await zipOf(files);
  for (let at = zip.indexOf(placeholder); at !== -1; at = zip.indexOf(placeholder, at + 1))
    zip.write(raw, at, 'latin1');
  return zip;
}
