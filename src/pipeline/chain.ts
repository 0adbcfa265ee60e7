// Follows `extends:` from an experiment file up to the root pipeline.yaml. Messages name files by
// absolute path (listed in the error's paths); the reporter shows them relative to where the user
// stands (format-error.ts).
import { dirname, resolve } from 'node:path';
import { PipeError } from '../errors.ts';
import { readYamlFile, type YamlFile } from './yaml-file.ts';

/** The files of one experiment, root first; the last one is the file the user named. */
export async function readSpecChain(entry: string): Promise<YamlFile[]> {
  const chain: YamlFile[] = [];
  let path = resolve(entry);
  for (;;) {
    const child = chain[chain.length - 1];
    const start = chain.findIndex((f) => f.path === path);
    if (start >= 0) {
      // The loop is the files from the first visit of `path` to the one that names it again.
      const cycle = [...chain.slice(start).map((f) => f.path), path];
      throw new PipeError(`"extends" loops: ${cycle.join(' -> ')}`, {
        code: 'E_SPEC_EXTENDS_CYCLE',
        loc: child?.locate(['extends']),
        hint: 'an experiment extends pipeline.yaml or another experiment, never itself',
        paths: cycle,
      });
    }
    const file = await readParent(path, child);
    chain.push(file);
    const value = file.value;
    if (value === null || value === undefined) {
      const extendedBy = child ? ` (extended by ${child.path})` : '';
      throw new PipeError(`${path}${extendedBy} is empty`, {
        code: 'E_SPEC_EMPTY',
        loc: child ? child.locate(['extends']) : { file: path, line: 1, col: 1 },
        hint: 'a pipeline declares params: and stages:; an experiment declares extends: and params:',
        paths: child ? [path, child.path] : [path],
      });
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new PipeError(
        `${path} holds ${Array.isArray(value) ? 'a list' : `a ${typeof value}`}; the spec must be a mapping with params:/stages: (a pipeline) or extends:/params: (an experiment)`,
        {
          code: 'E_SPEC_SCHEMA',
          loc: file.locate([]),
          hint: 'start the file with "params:" and "stages:" keys, or with "extends: pipeline.yaml"',
          paths: [path],
        },
      );
    }
    if (!Object.hasOwn(value, 'extends')) break;
    const parent = (value as { extends?: unknown }).extends;
    if (typeof parent !== 'string' || parent.trim() === '') {
      throw new PipeError('extends: must name the spec file this experiment builds on', {
        code: 'E_SPEC_SCHEMA',
        loc: file.locate(['extends']),
        hint: 'for example: extends: ../pipeline.yaml (relative to this file)',
      });
    }
    path = resolve(dirname(path), parent);
  }
  return chain.reverse();
}

/** Reads a file of the chain; a parent that cannot be read is reported at the `extends:` naming it. */
async function readParent(path: string, child: YamlFile | undefined): Promise<YamlFile> {
  try {
    return await readYamlFile(path);
  } catch (error) {
    if (!child || !(error instanceof PipeError) || error.loc) throw error;
    throw new PipeError(`${error.message} (extended by ${child.path})`, {
      code: error.code,
      loc: child.locate(['extends']),
      hint: error.hint ?? 'check the path in extends: (relative to the file that names it)',
      cause: error.cause,
      paths: [...error.paths, child.path],
    });
  }
}
