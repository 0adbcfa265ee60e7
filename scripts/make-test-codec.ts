// `npm run make-test-codec -- DIR`: writes the test codec's encoder.onnx and decoder.onnx into DIR,
// so `codec.encoder` / `codec.decoder` can point at them. A test codec with SNAC's contract, not SNAC.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildTestCodec } from '../test/helpers/test-codec.ts';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: npm run make-test-codec -- DIR\n');
  process.exit(2);
}
const out = resolve(dir);
mkdirSync(out, { recursive: true });
const { encoder, decoder } = buildTestCodec();
writeFileSync(join(out, 'encoder.onnx'), encoder);
writeFileSync(join(out, 'decoder.onnx'), decoder);
process.stdout.write(
  `wrote the test codec (not SNAC) to ${join(out, 'encoder.onnx')} and ${join(out, 'decoder.onnx')}\n`,
);
