// Character-level tokenizer: builds the vocabulary, writes token ids as little-endian uint16
// (nanoGPT's train.bin/val.bin contract) and a meta.json with the vocabulary.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const [input, outDir, valFraction] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const text = readFileSync(input, 'utf8');
const vocab = [...new Set(text)].sort();
const ids = Uint16Array.from(text, (c) => vocab.indexOf(c));
const split = Math.floor(ids.length * (1 - Number(valFraction)));
writeFileSync(`${outDir}/train.bin`, ids.subarray(0, split));
writeFileSync(`${outDir}/val.bin`, ids.subarray(split));
writeFileSync(
  `${outDir}/meta.json`,
  JSON.stringify({ vocab_size: vocab.length, vocab, train_tokens: split, val_tokens: ids.length - split }),
);
