// The two benchmark pipelines (7 stages in a line, 200 independent stages plus a join), each written
// three ways from one description: a gpt2o-pipe pipeline.yaml, a Snakefile and a Makefile. Every
// step runs the same one-line shell command in all three, so only the runners' overhead differs.
import { stringify } from 'yaml';

/** One step: reads `inputs` (empty for a source) and writes `output`. */
export interface Step {
  name: string;
  inputs: string[];
  output: string;
}

export interface PipelineShape {
  id: 'linear7' | 'wide200';
  label: string;
  steps: Step[];
  /** The file the last step writes (the target of `all` in Snakemake and make). */
  final: string;
}

/** s1 → s2 → … → s7, each `cat`-ing the previous output into its own. */
export function linearPipeline(length = 7): PipelineShape {
  const steps: Step[] = [];
  for (let i = 1; i <= length; i++) {
    steps.push({ name: `s${i}`, inputs: i === 1 ? [] : [`s${i - 1}.txt`], output: `s${i}.txt` });
  }
  return { id: 'linear7', label: `${length} stages in a line`, steps, final: `s${length}.txt` };
}

/** w000 … w199 with no inputs, then `join` reading all of them. */
export function widePipeline(width = 200): PipelineShape {
  const steps: Step[] = [];
  for (let i = 0; i < width; i++) {
    const name = `w${String(i).padStart(3, '0')}`;
    steps.push({ name, inputs: [], output: `${name}.txt` });
  }
  steps.push({ name: 'join', inputs: steps.map((s) => s.output), output: 'join.txt' });
  return { id: 'wide200', label: `${width} independent stages + 1 join`, steps, final: 'join.txt' };
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

/** A Snakefile with one explicit rule per step (no wildcards, mirroring the spec one to one). */
export function toSnakefile(shape: PipelineShape): string {
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
