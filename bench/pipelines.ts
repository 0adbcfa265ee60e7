// The benchmark pipelines, each written three ways from one description: a gpt2o-pipe
// pipeline.yaml, a Snakefile and a Makefile. Every step runs the same one-line shell command in all
// three, so only the runners' overhead differs. Two small shapes (7 in a line, 200 wide + a join,
// one explicit Snakemake rule per step) and three at scale (1,000 in a line, 1,000 and 5,000 wide +
// a join), where Snakemake gets one wildcard rule, as a person would write it at that size.
import { stringify } from 'yaml';

/** One step: reads `inputs` (empty for a source) and writes `output`. */
export interface Step {
  name: string;
  inputs: string[];
  output: string;
}

export type ShapeId = 'linear7' | 'wide200' | 'linear1000' | 'wide1000' | 'wide5000';

export interface PipelineShape {
  id: ShapeId;
  label: string;
  kind: 'linear' | 'wide';
  steps: Step[];
  /** The file the last step writes (the target of `all` in Snakemake and make). */
  final: string;
  /** How the Snakefile is written: one rule per step, or one wildcard rule for the repeated steps. */
  snakefile: 'explicit' | 'wildcard';
}

/** s1 → s2 → … → sN, each `cat`-ing the previous output into its own. */
export function linearPipeline(length = 7): PipelineShape {
  const steps: Step[] = [];
  for (let i = 1; i <= length; i++) {
    steps.push({ name: `s${i}`, inputs: i === 1 ? [] : [`s${i - 1}.txt`], output: `s${i}.txt` });
  }
  return {
    id: length === 7 ? 'linear7' : 'linear1000',
    label: `${length} stages in a line`,
    kind: 'linear',
    steps,
    final: `s${length}.txt`,
    snakefile: length === 7 ? 'explicit' : 'wildcard',
  };
}

/** w000 … w199 (as many digits as the width needs) with no inputs, then `join` reading all of them. */
export function widePipeline(width = 200): PipelineShape {
  const digits = String(width - 1).length;
  const steps: Step[] = [];
  for (let i = 0; i < width; i++) {
    const name = `w${String(i).padStart(digits, '0')}`;
    steps.push({ name, inputs: [], output: `${name}.txt` });
  }
  steps.push({ name: 'join', inputs: steps.map((s) => s.output), output: 'join.txt' });
  return {
    id: width === 200 ? 'wide200' : width === 1000 ? 'wide1000' : 'wide5000',
    label: `${width.toLocaleString('en-US')} independent stages + 1 join`,
    kind: 'wide',
    steps,
    final: 'join.txt',
    snakefile: width === 200 ? 'explicit' : 'wildcard',
  };
}

/** The shapes at scale (issue: cost per stage), after the two small ones. */
export function scalePipelines(): PipelineShape[] {
  return [linearPipeline(1000), widePipeline(1000), widePipeline(5000)];
}

/** The shell command of a step, identical in all three runners. */
export function stepCommand(step: Step): string {
  return step.inputs.length === 0
    ? `echo ${step.name} > ${step.output}`
    : `cat ${step.inputs.join(' ')} > ${step.output}`;
}

/** gpt2o-pipe's pipeline.yaml: a dep that is another stage's out makes the edge. */
export function toPipelineYaml(shape: PipelineShape): string {
  const stages: Record<string, { cmd: string; deps?: string[]; outs: string[] }> = {};
  for (const step of shape.steps) {
    stages[step.name] = {
      cmd: stepCommand(step),
      ...(step.inputs.length > 0 ? { deps: step.inputs } : {}),
      outs: [step.output],
    };
  }
  return stringify({ stages }, { flowCollectionPadding: false });
}

/** The Snakefile of a shape, in the form the shape asks for. */
export function toSnakefile(shape: PipelineShape): string {
  return shape.snakefile === 'explicit' ? toExplicitSnakefile(shape) : toWildcardSnakefile(shape);
}

/**
 * One wildcard rule for the repeated steps, with the same commands as the other runners: in a line,
 * s1 is its own rule and s{i} reads s{i-1}; wide, w{i} echoes its own name and `join` lists them all.
 */
function toWildcardSnakefile(shape: PipelineShape): string {
  const all = `rule all:\n    input: "${shape.final}"\n`;
  if (shape.kind === 'linear') {
    const first = shape.steps[0]!;
    return [
      // Snakemake builds its DAG recursively: 1,000 in a line overflows Python's default limit.
      'import sys\nsys.setrecursionlimit(20000)\n',
      all,
      `rule ${first.name}:\n    output: "${first.output}"\n    shell: "${stepCommand(first)}"\n`,
      // i >= 2 only, so s1.txt has exactly one producer.
      'rule step:\n    wildcard_constraints: i="[2-9]|[1-9][0-9]+"\n    input: lambda wc: f"s{int(wc.i) - 1}.txt"\n    output: "s{i}.txt"\n    shell: "cat {input} > {output}"\n',
    ].join('\n');
  }
  const sources = shape.steps.filter((s) => s.inputs.length === 0).map((s) => s.name.slice(1));
  const join = shape.steps[shape.steps.length - 1]!;
  return [
    all,
    `IDS = ${JSON.stringify(sources)}\n`,
    'rule w:\n    output: "w{i}.txt"\n    shell: "echo w{wildcards.i} > {output}"\n',
    `rule ${join.name}:\n    input: expand("w{i}.txt", i=IDS)\n    output: "${join.output}"\n    shell: "cat {input} > {output}"\n`,
  ].join('\n');
}

/** A Snakefile with one explicit rule per step (no wildcards, mirroring the spec one to one). */
function toExplicitSnakefile(shape: PipelineShape): string {
  const rules = [`rule all:\n    input: "${shape.final}"\n`];
  for (const step of shape.steps) {
    const input = step.inputs.length > 0 ? `    input: ${step.inputs.map((i) => `"${i}"`).join(', ')}\n` : '';
    rules.push(
      `rule ${step.name}:\n${input}    output: "${step.output}"\n    shell: "${stepCommand(step)}"\n`,
    );
  }
  return rules.join('\n');
}

/** A Makefile with one explicit rule per step; `all` is the default goal. */
export function toMakefile(shape: PipelineShape): string {
  const rules = [`.PHONY: all\nall: ${shape.final}\n`];
  for (const step of shape.steps) {
    rules.push(`${step.output}: ${step.inputs.join(' ')}\n\t${stepCommand(step)}\n`);
  }
  return rules.join('\n');
}
