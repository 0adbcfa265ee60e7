// What `watch` watches: every file that can change what a run computes, found from the resolved
// experiment rather than by watching the whole project (which holds cache/, runs/ and data).
import { existsSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { depPath } from '../cache/key.ts';
import type { Graph } from '../graph/build.ts';

/**
 * The experiment's spec files (the `extends:` chain), the project files its stages read (`deps:`
 * of cmd stages that no stage produces, and the local paths of built-in stages), all absolute.
 */
export function inputPaths(graph: Graph, specFiles: readonly string[]): string[] {
  const paths = new Set(specFiles);
  for (const stage of graph.stages.values()) {
    // A dep another stage produces is read from that stage's output, not from the project folder.
    const produced = new Set((graph.producedDeps.get(stage.name) ?? []).map((p) => p.dep));
    for (const dep of stage.deps) if (!produced.has(dep.path)) paths.add(depPath(graph, dep.path));
  }
  return [...paths];
}

/**
 * The built-in stages' source folder when running from a source checkout: `stages/` beside dist/
 * (the bundled CLI) or beside src/ (run through tsx). Not inside node_modules: an installed
 * package's stages are not being edited.
 */
export function stageSourcesDir(): string | undefined {
  for (const relative of ['../stages', '../../stages']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (dir.split(sep).includes('node_modules')) continue;
    if (existsSync(`${dir}${sep}index.ts`)) return dir;
  }
  return undefined;
}

/** Whether `path` is `root` or lies inside it. */
export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);
}
