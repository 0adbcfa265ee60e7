// `gpt2o-pipe dag [EXPERIMENT] [--mermaid]`: the stage graph, as text or as a Mermaid diagram.
import { EXIT_OK, PipeError } from '../../errors.ts';
import type { Graph } from '../../graph/build.ts';
import { defaultExperiment, parseCommandArgs } from '../args.ts';
import type { CliIo } from '../io.ts';
import { openWorkspace } from '../workspace.ts';

export const DAG_HELP = `Usage: gpt2o-pipe dag [EXPERIMENT] [options]

Prints the stage graph in dependency order: each stage with what it needs.

  --mermaid           print a Mermaid flowchart (paste into Markdown on GitHub)
  --json              print {"experiment", "stages": [{"name", "kind", "uses", "needs"}]} in
                      dependency order (uses: null for a cmd stage)
  --set KEY=VALUE     override a param (repeatable)
`;

const OPTIONS = {
  mermaid: { type: 'boolean' },
  json: { type: 'boolean' },
  set: { type: 'string', multiple: true },
} as const;

export async function dagCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('dag', args, OPTIONS);
  if (values.help) {
    io.stdout(DAG_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 1) {
    // One graph is printed: a second name was a slip, not something to drop silently.
    throw new PipeError(`dag: takes one experiment, got ${positionals.length}: ${positionals.join(' ')}`, {
      code: 'E_USAGE',
      hint: 'run dag once per experiment',
    });
  }
  const { graph } = await openWorkspace(io, positionals[0] ?? defaultExperiment(io.cwd), {
    sets: values.set,
    cache: values.cache,
  });
  io.stdout(values.json ? json(graph) : values.mermaid ? mermaid(graph) : text(graph));
  return EXIT_OK;
}

function label(graph: Graph, name: string): string {
  const stage = graph.stages.get(name)!;
  return stage.kind === 'uses' ? `${name} (uses ${stage.uses})` : `${name} (cmd)`;
}

function text(graph: Graph): string {
  const width = Math.max(0, ...graph.order.map((n) => label(graph, n).length));
  const lines = graph.order.map((name) => {
    const ups = graph.upstream.get(name) ?? [];
    return ups.length ? `${label(graph, name).padEnd(width)}  <- ${ups.join(', ')}` : label(graph, name);
  });
  return `${lines.join('\n')}\n`;
}

function mermaid(graph: Graph): string {
  const id = (name: string) => `s_${name.replace(/-/g, '_')}`;
  const lines = ['flowchart TD'];
  for (const name of graph.order) lines.push(`  ${id(name)}["${label(graph, name)}"]`);
  for (const name of graph.order)
    for (const up of graph.upstream.get(name) ?? []) lines.push(`  ${id(up)} --> ${id(name)}`);
  return `${lines.join('\n')}\n`;
}

function json(graph: Graph): string {
  const stages = graph.order.map((name) => {
    const stage = graph.stages.get(name)!;
    return {
      name,
      kind: stage.kind,
      uses: stage.kind === 'uses' ? stage.uses : null,
      needs: graph.upstream.get(name) ?? [],
    };
  });
  return `${JSON.stringify({ experiment: graph.spec.experiment, stages })}\n`;
}
