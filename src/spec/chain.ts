// Follows `extends:` from an experiment file up to the root pipeline.yaml.
import { dirname, resolve } from 'node:path';
import { PipeError } from '../errors.ts';
import { displayPath, readYamlFile, type YamlFile } from './yaml-file.ts';

/** The files of one experiment, root first; the last one is the file the user named. */
export async function readSpecChain(entry: string): Promise<YamlFile[]> {
  const chain: YamlFile[] = [];
  const seen = new Set<string>();
  let path = resolve(entry);
  for (;;) {
    if (seen.has(path)) {
      const cycle = [...chain.map((f) => displayPath(f.path)).reverse(), displayPath(path)];
      throw new PipeError(`"extends" loops: ${cycle.join(' -> ')}`, {
        code: 'E_SPEC_EXTENDS_CYCLE',
        loc: chain[chain.length - 1]?.locate(['extends']),
        hint: 'an experiment extends pipeline.yaml or another experiment, never itself',
      });
    }
    seen.add(path);
    const file = await readYamlFile(path);
    chain.push(file);
    const value = file.value;
    if (value === null || value === undefined) {
      throw new PipeError(`${displayPath(path)} is empty`, {
        code: 'E_SPEC_EMPTY',
        loc: { file: path, line: 1, col: 1 },
        hint: 'a pipeline declares params: and stages:; an experiment declares extends: and params:',
      });
    }
    const parent =
      typeof value === 'object' && !Array.isArray(value)
        ? (value as { extends?: unknown }).extends
        : undefined;
    if (typeof parent !== 'string') break;
    path = resolve(dirname(path), parent);
  }
  return chain.reverse();
}
