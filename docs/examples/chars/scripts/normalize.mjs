// Lowercases the text and folds runs of whitespace into single spaces.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
writeFileSync(output, readFileSync(input, 'utf8').toLowerCase().replace(/\s+/g, ' ').trim());
