// Unigram statistics of the training tokens: the entropy in bits per character is the loss a
// model that ignores context would reach, a baseline for the GPT to beat.
import { readFileSync, writeFileSync } from 'node:fs';

const [dir, output] = process.argv.slice(2);
const meta = JSON.parse(readFileSync(`${dir}/meta.json`, 'utf8'));
const bytes = readFileSync(`${dir}/train.bin`);
const ids = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
const counts = new Array(meta.vocab_size).fill(0);
for (const id of ids) counts[id]++;
const entropy = -counts
  .filter((c) => c > 0)
  .reduce((h, c) => h + (c / ids.length) * Math.log2(c / ids.length), 0);
writeFileSync(
  output,
  JSON.stringify(
    { tokens: ids.length, vocab_size: meta.vocab_size, unigram_bits_per_char: Number(entropy.toFixed(4)) },
    null,
    2,
  ) + '\n',
);
