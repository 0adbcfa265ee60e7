// `uses:` stages through the real stage API: typed params, inputs by slot, metrics in the record,
// schema errors located in the YAML, stage versions in the key.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { builtinStages } from '../../stages/index.ts';
import { fixtureStages, withBumpedVersion } from '../fixtures/stages/index.ts';
import { cli, makeWorkspace, runJson } from '../helpers/workspace.ts';

const PIPELINE = `params:
  audio:
    sample_rate: 8000
  tone:
    frequency: 440
stages:
  tone:
    uses: tone
    with:
      frequency: \${tone.frequency}
      sample_rate: \${audio.sample_rate}
      samples: 8000
  estimate:
    uses: zero-crossings
    needs: {audio: tone}
    with:
      sample_rate: \${audio.sample_rate}
  report:
    cmd: cat estimate/estimate.json > report.json
    needs: [estimate]
    outs: [report.json]
`;

function recordOf(cache: string, key: string) {
  return JSON.parse(readFileSync(join(cache, 'actions', key.slice(0, 2), `${key}.json`), 'utf8'));
}

describe('built-in stages', () => {
  test('params keep their types, inputs flow by slot, metrics land in the run record', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      const r = await runJson(ws.dir, [], fixtureStages);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.status, { tone: 'ran', estimate: 'ran', report: 'ran' });
      const estimate = JSON.parse(ws.read('runs/pipeline/report/report.json'));
      assert.ok(Math.abs(estimate.hz - 440) <= 1, `estimated ${estimate.hz} Hz`);
      const record = recordOf(ws.path('cache'), r.json.stages[0]!.key!);
      assert.deepEqual(record.description.with, { frequency: 440, sample_rate: 8000, samples: 8000 });
      assert.deepEqual(record.params, { 'audio.sample_rate': 8000, 'tone.frequency': 440 });
      assert.equal(record.metrics.peak, 32767);
      assert.match(record.logTail, /wrote 8000 samples at 440 Hz/);

      const changed = await runJson(ws.dir, ['--set', 'tone.frequency=1000'], fixtureStages);
      assert.deepEqual(changed.status, { tone: 'ran', estimate: 'ran', report: 'ran' });
      assert.ok(Math.abs(JSON.parse(ws.read('runs/pipeline/report/report.json')).hz - 1000) <= 1);
    } finally {
      ws.remove();
    }
  });

  test('a bumped stage version reruns the stage and status says why', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      await runJson(ws.dir, [], fixtureStages);
      const bumped = withBumpedVersion('tone');
      const status = await cli(ws.dir, ['status', 'pipeline.yaml', '--json'], { registry: bumped });
      const tone = JSON.parse(status.stdout).experiments[0].stages[0];
      assert.deepEqual(tone.reasons, ['stage version changed: 1 -> 2']);
      // Same bytes out of the new version: its dependents stay cached (early cutoff).
      assert.deepEqual((await runJson(ws.dir, [], bumped)).status, {
        tone: 'ran',
        estimate: 'cached',
        report: 'cached',
      });
    } finally {
      ws.remove();
    }
  });

  test('with: values are checked against the stage schema, at their place in the YAML', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  tone:
    uses: tone
    with:
      frequency: high
      sampel_rate: 8000
  estimate:
    uses: zero-crossings
    with: {sample_rate: 8000}
`,
    });
    try {
      const r = await cli(ws.dir, ['run'], { registry: fixtureStages });
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /pipeline\.yaml:5:18 error E_SPEC_SCHEMA \(stage "tone"\)\n {2}stages\.tone\.with\.frequency: expected number, got "high"/,
      );
      assert.match(
        r.stderr,
        /pipeline\.yaml:6:7 error E_SPEC_UNKNOWN_KEY \(stage "tone"\)[\s\S]*did you mean "sample_rate"\?/,
      );
      assert.match(
        r.stderr,
        /E_SPEC_MISSING_INPUT \(stage "estimate"\)\n {2}stage "estimate" \(uses zero-crossings\) needs an input "audio"/,
      );
    } finally {
      ws.remove();
    }
  });

  test('a StageError fails the stage with its message and hint, and caches nothing', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': PIPELINE.replace('samples: 8000', 'samples: 1'),
    });
    try {
      const r = await runJson(ws.dir, [], fixtureStages);
      assert.equal(r.code, 1);
      assert.deepEqual(r.status, { tone: 'ran', estimate: 'failed', report: 'skipped' });
      assert.match(
        r.stderr,
        /error E_STAGE_FAILED \(stage "estimate"\)\n {2}stage "estimate" \(uses zero-crossings\) failed: the tone has fewer than 2 samples/,
      );
      assert.match(r.stderr, /hint: raise tone\.samples/);
      assert.equal(
        readdirSync(ws.path('cache/actions'), { recursive: true }).filter((f) => String(f).endsWith('.json'))
          .length,
        1,
      );
    } finally {
      ws.remove();
    }
  });

  test("GPT2O_WORKERS, GPT2O_THREADS and GPT2O_MEMORY_LIMIT reach a stage through ctx (read once by the CLI); unset, the machine's", async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': 'stages:\n  w:\n    uses: workers\n' });
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, GPT2O_CACHE: '' };
      delete env.GPT2O_WORKERS;
      delete env.GPT2O_THREADS;
      delete env.GPT2O_MEMORY_LIMIT;
      const three = await cli(ws.dir, ['run'], {
        registry: fixtureStages,
        env: { ...env, GPT2O_WORKERS: '3', GPT2O_THREADS: '5', GPT2O_MEMORY_LIMIT: '1.5G' },
      });
      assert.equal(three.code, 0, three.stderr);
      assert.equal(ws.read('runs/pipeline/w/workers.txt'), '3\n');
      assert.equal(ws.read('runs/pipeline/w/threads.txt'), '5\n');
      assert.equal(ws.read('runs/pipeline/w/memory.txt'), `${1.5 * 2 ** 30}\n`);
      // Not in the key: another value reruns nothing.
      const again = await cli(ws.dir, ['run', '--json'], {
        registry: fixtureStages,
        env: { ...env, GPT2O_WORKERS: '2' },
      });
      assert.equal(JSON.parse(again.stdout).stages[0].status, 'cached', again.stderr);
      const cores = await cli(ws.dir, ['run', '--force', 'w'], { registry: fixtureStages, env });
      assert.equal(cores.code, 0, cores.stderr);
      assert.equal(ws.read('runs/pipeline/w/workers.txt'), `${availableParallelism()}\n`);
      assert.equal(ws.read('runs/pipeline/w/threads.txt'), `${availableParallelism()}\n`);
      assert.equal(ws.read('runs/pipeline/w/memory.txt'), `${totalmem()}\n`);
    } finally {
      ws.remove();
    }
  });

  test('every built-in stage declares a name, an integer version and a params schema', async () => {
    for (const name of builtinStages.names()) {
      const stage = await builtinStages.load(name);
      assert.equal(stage.name, name);
      assert.ok(Number.isInteger(stage.version) && stage.version >= 1, `${name} has no integer version`);
      assert.ok(stage.params, `${name} has no params schema`);
    }
    for (const name of fixtureStages.names())
      assert.ok(Number.isInteger((await fixtureStages.load(name)).version));
  });
});

describe('a bug inside a built-in stage', () => {
  // The fixture stage `crash` reads a property of undefined: a bug, not a failure the stage
  // reported with StageError. No code of ours is mocked; the real executor runs it.
  test('prints as an internal error with its stack, never under a known code, and caches nothing', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml':
        'stages:\n  boom: { uses: crash, with: {} }\n  after: { cmd: echo x > x.txt, needs: [boom], outs: [x.txt] }\n',
    });
    try {
      const r = await runJson(ws.dir, [], fixtureStages);
      assert.equal(r.code, 70, r.stderr);
      assert.deepEqual(r.status, { boom: 'failed', after: 'skipped' });
      assert.match(
        r.stderr,
        /internal error \(a bug in gpt2o-pipe, please report it with this output\):\nTypeError: Cannot read properties of undefined \(reading 'kind'\)\n\s+at .*crash\.ts/,
      );
      assert.match(r.stderr, /\(in stage "boom"\)/);
      assert.doesNotMatch(r.stderr, /error E_[A-Z_]+/);
      const log = readdirSync(ws.path('cache/logs')).map((f) =>
        readFileSync(ws.path(`cache/logs/${f}`), 'utf8'),
      );
      assert.match(log.join(''), /about to crash\nTypeError: Cannot read properties of undefined/);
      const again = await runJson(ws.dir, ['--dry-run'], fixtureStages);
      assert.equal(again.status.boom, 'would-run');
    } finally {
      ws.remove();
    }
  });
});
