// The pure part of sweeps (src/pipeline/sweep.ts): flags to axes, the grid's expansion, and the
// names of variants, which must stay readable, stable and valid experiment (folder) names.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorSink } from '../../src/errors.ts';
import { isExperimentName } from '../../src/pipeline/schema.ts';
import { expandSweep } from '../../src/pipeline/sweep.ts';
import { axesFromFlags } from '../../src/pipeline/sweep-decl.ts';
import { formatValue, variantNames } from '../../src/pipeline/sweep-names.ts';

const asNumber = (text: string): unknown =>
  text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;

describe('sweep', () => {
  test('flags become axes; the grid is their product, first axis slowest, named from the values', () => {
    const sink = new ErrorSink();
    const axes = axesFromFlags(['train.max_lr=6e-4,1.8e-3', 'train.context_length=64, 128'], asNumber, sink);
    assert.deepEqual(sink.errors, []);
    const plan = expandSweep({ axes, variants: [] }, 'demo', 'demo', sink);
    assert.deepEqual(plan.params, ['train.max_lr', 'train.context_length']);
    assert.deepEqual(
      plan.variants.map((v) => [v.name, v.values]),
      [
        ['demo.max_lr-6e-4.context_length-64', { 'train.max_lr': 0.0006, 'train.context_length': 64 }],
        ['demo.max_lr-6e-4.context_length-128', { 'train.max_lr': 0.0006, 'train.context_length': 128 }],
        ['demo.max_lr-0.0018.context_length-64', { 'train.max_lr': 0.0018, 'train.context_length': 64 }],
        ['demo.max_lr-0.0018.context_length-128', { 'train.max_lr': 0.0018, 'train.context_length': 128 }],
      ],
    );
  });

  test('a value is named by its shortest form, however it was written', () => {
    assert.equal(formatValue(0.0006), '6e-4');
    assert.equal(formatValue(6e-4), '6e-4');
    assert.equal(formatValue(0.0018), '0.0018');
    assert.equal(formatValue(1e21), '1e+21');
    assert.equal(formatValue(256), '256');
    assert.equal(formatValue('abc'), 'abc');
    assert.equal(formatValue(true), 'true');
  });

  test('names: params sharing a last segment get more of their path; unsafe characters, clashes and length are handled', () => {
    const names = variantNames(
      'exp',
      ['train.lr', 'sample.lr', 'data.source'],
      [
        { 'train.lr': 1, 'sample.lr': 2, 'data.source': 'a/b c' },
        { 'train.lr': 1, 'sample.lr': 2, 'data.source': 'a_b c' },
        { 'train.lr': 1, 'sample.lr': 2, 'data.source': 'x'.repeat(300) },
        { 'train.lr': 1, 'sample.lr': 2, 'data.source': '..' },
      ],
    );
    assert.match(names[0]!, /^exp\.train_lr-1\.sample_lr-2\.source-a_b_c-[0-9a-f]{8}$/);
    assert.match(names[1]!, /^exp\.train_lr-1\.sample_lr-2\.source-a_b_c-[0-9a-f]{8}$/);
    assert.notEqual(names[0], names[1]);
    assert.ok(names[2]!.length <= 120, names[2]);
    assert.equal(names[3], 'exp.train_lr-1.sample_lr-2.source-..');
    for (const name of names) assert.ok(isExperimentName(name), name);
    // Stable: the same values give the same names.
    assert.deepEqual(
      variantNames('exp', ['train.lr'], [{ 'train.lr': 0.5 }]),
      variantNames('exp', ['train.lr'], [{ 'train.lr': 0.5 }]),
    );
  });

  test('flag problems: no path, no values, a param twice, a value twice', () => {
    const sink = new ErrorSink();
    axesFromFlags(['=1', 'a=', 'b=1', 'b=2', 'c=1,1.0'], asNumber, sink);
    assert.deepEqual(
      sink.errors.map((e) => [e.code, e.message]),
      [
        ['E_USAGE_SWEEP', '--sweep "=1" is not of the form a.b.c=value1,value2'],
        ['E_SWEEP_EMPTY', '--sweep a= lists no values'],
        ['E_SWEEP_DUPLICATE', 'param "b" is swept twice'],
        ['E_SWEEP_DUPLICATE', 'c lists the value 1 twice'],
      ],
    );
  });

  test('an explicit variant equal to a grid point is refused at its place', () => {
    const sink = new ErrorSink();
    const loc = { file: 'e.yaml', line: 7, col: 7 };
    const axes = axesFromFlags(['a=1,2'], asNumber, sink);
    const plan = expandSweep(
      {
        axes,
        variants: [
          { values: { a: { value: 2, origin: 'x', loc } }, loc },
          { values: { a: { value: 3, origin: 'y' } } },
        ],
      },
      'e',
      'e',
      sink,
    );
    assert.deepEqual(
      plan.variants.map((v) => v.name),
      ['e.a-1', 'e.a-2', 'e.a-3'],
    );
    assert.equal(sink.errors.length, 1);
    assert.equal(sink.errors[0]!.code, 'E_SWEEP_DUPLICATE');
    assert.deepEqual(sink.errors[0]!.loc, loc);
  });
});
