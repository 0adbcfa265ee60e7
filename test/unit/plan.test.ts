// The plan on hand-built graphs with in-memory lookups: no cache, no files, no processes. The key
// of a stage is its name, its "dep" version and its upstream trees; a "run" produces the tree
// `tree-<name>-<version>` unless the test says otherwise (early cutoff).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyDescription, RunRecord } from '../../src/cache/record.ts';
import { PipeError } from '../../src/errors.ts';
import type { ResolvedStage } from '../../src/pipeline/types.ts';
import { type PlanLookups, plan, planStage, type Step } from '../../src/run/plan.ts';

interface World {
  /** stage → upstream stages (insertion order is topological). */
  edges: Record<string, string[]>;
  /** stage → dep version; a missing entry means the dep cannot be read. */
  deps: Record<string, number | undefined>;
  /** cached keys → output tree; 'damaged' when the cached result is damaged. */
  cache: Map<string, string>;
  slurm?: string[];
}

const stageNamed = (name: string, executor?: 'slurm') => ({ name, executor }) as unknown as ResolvedStage;

function lookups(world: World, describeCalls: string[] = []): PlanLookups {
  return {
    async describe(stage, trees) {
      describeCalls.push(stage.name);
      const version = world.deps[stage.name];
      if (version === undefined)
        throw new PipeError(`dep of "${stage.name}" does not exist`, { code: 'E_DEP_MISSING' });
      const inputs = Object.fromEntries(trees);
      const description = { deps: { d: String(version) }, inputs } as unknown as KeyDescription;
      return { description, key: `${stage.name}@${version}|${[...trees.values()].join(',')}` };
    },
    async serve(key, onDamage) {
      const tree = world.cache.get(key);
      if (tree === 'damaged') {
        onDamage('object x is corrupt');
        return undefined;
      }
      return tree === undefined ? undefined : ({ output: { tree }, warnings: [] } as unknown as RunRecord);
    },
  };
}

function graphOf(world: World) {
  const stages = new Map(
    Object.keys(world.edges).map((n) => [n, stageNamed(n, world.slurm?.includes(n) ? 'slurm' : undefined)]),
  );
  const upstream = new Map(Object.entries(world.edges));
  return { stages, upstream, order: Object.keys(world.edges) };
}

/** A fully cached world: every stage's key is in the cache with the tree `t-<name>`. */
function cachedWorld(edges: Record<string, string[]>): World {
  const world: World = { edges, deps: {}, cache: new Map() };
  const trees = new Map<string, string>();
  for (const [name, ups] of Object.entries(edges)) {
    world.deps[name] = 1;
    const key = `${name}@1|${ups.map((u) => trees.get(u)).join(',')}`;
    trees.set(name, `t-${name}`);
    world.cache.set(key, `t-${name}`);
  }
  return world;
}

async function planWorld(world: World, force: string[] = []) {
  const g = graphOf(world);
  const steps = await plan(g.stages, g.upstream, g.order, lookups(world), {
    force: new Set(force),
    executorOf: (s) => s.executor ?? 'local',
  });
  return Object.fromEntries(steps.map((s) => [s.stage, s]));
}

const actions = (steps: Record<string, Step>) =>
  Object.fromEntries(
    Object.entries(steps).map(([n, s]) => [n, `${s.action}${s.reason ? `: ${s.reason}` : ''}`]),
  );

//   a ──► b ──► d
//   └───► c ──┘
const DIAMOND = { a: [], b: ['a'], c: ['a'], d: ['b', 'c'] };

describe('plan on hand-built graphs', () => {
  test('a fully cached graph serves every stage, in order, with its key', async () => {
    const steps = await planWorld(cachedWorld(DIAMOND));
    assert.deepEqual(actions(steps), { a: 'serve', b: 'serve', c: 'serve', d: 'serve' });
    assert.equal(steps.d!.key, 'd@1|t-b,t-c');
  });

  test('a changed dep runs its stage; its dependents would run (their input is not known yet)', async () => {
    const world = cachedWorld(DIAMOND);
    world.deps.b = 2;
    assert.deepEqual(actions(await planWorld(world)), {
      a: 'serve',
      b: 'run: not in the cache',
      c: 'serve',
      d: 'would-run: upstream "b" would run',
    });
  });

  test('a forced stage runs although it is cached', async () => {
    const steps = await planWorld(cachedWorld(DIAMOND), ['c']);
    assert.deepEqual(actions(steps), {
      a: 'serve',
      b: 'serve',
      c: 'run: forced',
      d: 'would-run: upstream "c" would run',
    });
    assert.equal(steps.c!.key, 'c@1|t-a');
  });

  test('a stage that cannot be keyed fails, and its dependents are skipped naming it', async () => {
    const world = cachedWorld(DIAMOND);
    world.deps.a = undefined;
    const steps = await planWorld(world);
    assert.deepEqual(actions(steps), {
      a: 'fail: dep of "a" does not exist',
      b: 'skip: upstream "a" failed',
      c: 'skip: upstream "a" failed',
      d: 'skip: upstream "b" was skipped',
    });
    assert.equal((steps.a!.error as PipeError).code, 'E_DEP_MISSING');
  });

  test('a damaged cached result is a miss, and the damage is reported with the step', async () => {
    const world = cachedWorld({ a: [] });
    world.cache.set('a@1|', 'damaged');
    const steps = await planWorld(world);
    assert.equal(steps.a!.action, 'run');
    assert.deepEqual(steps.a!.damage, ['object x is corrupt']);
  });

  test('a Slurm stage is planned like any other; the step names its executor', async () => {
    const world = { ...cachedWorld(DIAMOND), slurm: ['b'] };
    world.deps.b = 2;
    const steps = await planWorld(world);
    assert.equal(steps.b!.action, 'run');
    assert.equal(steps.b!.executor, 'slurm');
    assert.equal(steps.c!.executor, 'local');
  });

  test('a stage never run is keyed and run; one with a pending upstream is not keyed at all', async () => {
    const calls: string[] = [];
    const world: World = { edges: { a: [], b: ['a'] }, deps: { a: 1, b: 1 }, cache: new Map() };
    const g = graphOf(world);
    const steps = await plan(g.stages, g.upstream, g.order, lookups(world, calls), {
      force: new Set(),
      executorOf: () => 'local',
    });
    assert.deepEqual(
      steps.map((s) => s.action),
      ['run', 'would-run'],
    );
    assert.deepEqual(calls, ['a']);
    assert.equal(steps[1]!.key, undefined);
  });

  test('early cutoff: an upstream that ran and produced the same tree leaves its dependent served', async () => {
    // In a real run the scheduler plans b after a ran, with a's new output tree.
    const world = cachedWorld({ a: [], b: ['a'] });
    const step = await planStage(
      stageNamed('b'),
      [{ name: 'a', state: 'done', tree: 't-a' }],
      lookups(world),
      {
        force: new Set(),
        executorOf: () => 'local',
      },
    );
    assert.equal(step.action, 'serve');
    const changed = await planStage(
      stageNamed('b'),
      [{ name: 'a', state: 'done', tree: 't-a2' }],
      lookups(world),
      {
        force: new Set(),
        executorOf: () => 'local',
      },
    );
    assert.equal(changed.action, 'run');
    assert.equal(changed.key, 'b@1|t-a2');
  });

  test('an unexpected error while keying is kept as it is (a bug, not a known code)', async () => {
    const world = cachedWorld({ a: [] });
    const broken: PlanLookups = {
      ...lookups(world),
      describe: async () => {
        throw new TypeError('boom');
      },
    };
    const step = await planStage(stageNamed('a'), [], broken, {
      force: new Set(),
      executorOf: () => 'local',
    });
    assert.equal(step.action, 'fail');
    assert.ok(step.error instanceof TypeError);
  });

  test('a Slurm stage whose upstream is a submitted Slurm job is submitted after it, unkeyed', async () => {
    const world = cachedWorld({ a: [], b: [], c: ['a', 'b'] });
    const calls: string[] = [];
    const options = { force: new Set<string>(), executorOf: (s: ResolvedStage) => s.executor ?? 'local' };
    const upstream = [
      { name: 'a', state: 'submitted', jobId: '41' },
      { name: 'b', state: 'done', tree: 't-b' },
    ] as const;
    const step = await planStage(stageNamed('c', 'slurm'), upstream, lookups(world, calls), options);
    assert.deepEqual(
      [step.action, step.after, step.reason, step.key],
      ['submit', ['41'], 'after Slurm job 41', undefined],
    );
    assert.deepEqual(calls, [], 'its key depends on the job: nothing is keyed yet');
    // A failed upstream still wins: nothing is submitted for a stage that cannot run.
    const blocked = await planStage(
      stageNamed('c', 'slurm'),
      [upstream[0], { name: 'b', state: 'failed' }],
      lookups(world),
      options,
    );
    assert.deepEqual([blocked.action, blocked.reason], ['skip', 'upstream "b" failed']);
    // A stage that runs here cannot start before the job's output exists.
    const local = await planStage(stageNamed('c'), upstream, lookups(world), options);
    assert.deepEqual([local.action, local.reason], ['would-run', 'upstream "a" would run']);
  });

  test('a 2,000-stage cached line is served whole (no recursion limit, no quadratic walk)', async () => {
    const edges: Record<string, string[]> = {};
    for (let i = 0; i < 2000; i++) edges[`s${i}`] = i === 0 ? [] : [`s${i - 1}`];
    const steps = await planWorld(cachedWorld(edges));
    assert.equal(Object.values(steps).filter((s) => s.action === 'serve').length, 2000);
  });
});
