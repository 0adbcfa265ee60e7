// Property test of the spec loader: generated pipeline.yaml files (and experiments extending them,
// and --set overrides) built from the spec grammar — params trees, cmd:/uses: stages with
// needs/deps/outs/with, ${} references, extends chains — then broken on purpose: wrong types,
// unknown keys, garbage strings, unicode, huge numbers, deep nesting, and text-level damage
// (truncation, stray characters). Whatever the input, resolveSpec must return or throw a PipeError;
// every error (each one of an aggregate) must say where: file:line:col inside a file it read, or,
// for a usage error, the argument or file it is about. Loading the same files again (now from the
// parse cache) must give the same result. Fixed seed: a failure prints a reproducible counterexample.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { PipeError, PipeErrorList } from '../../src/errors.ts';
import { resolveSpec } from '../../src/pipeline/resolve.ts';
import { formatError } from '../../src/report/format-error.ts';
import { loadYaml } from '../../src/util/load-yaml.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';

const SEED = 20251125;
const RUNS = 300;

const root = mkdtempSync(join(tmpdir(), 'gpt2o-spec-fuzz-'));
// A parse cache of our own: the second load of each case is a cache hit.
process.env.GPT2O_PARSE_CACHE = join(root, 'parse-cache');
after(() => rmSync(root, { recursive: true, force: true }));

// ---- the grammar, as arbitraries

const NAMES = ['a', 'b', 'c', 'train', 'shard', 'codes', 'tone'];
const PARAM_KEYS = ['a', 'b', 'lr', 'train', 'context_length', 'data', 'x', 'n'];
const stageName = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...NAMES) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('1bad', 'with space', '', 'ü', '-x', 'a/b', '__proto__', 'constructor'),
  },
);
const garbageString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => s.replaceAll('\0', '')),
  fc.constantFrom(
    '${',
    '${}',
    '${a..b}',
    '${ a }',
    '$${a}',
    '${a}${b}',
    '}',
    '${1x}',
    '\u0000',
    'é${a}ü',
    '~',
    '!!',
    '&x',
    '*x',
  ),
);
const refPath = fc
  .array(fc.constantFrom(...PARAM_KEYS), { minLength: 1, maxLength: 3 })
  .map((segments) => segments.join('.'));
const refString = fc.oneof(
  refPath.map((p) => `\${${p}}`),
  fc
    .tuple(fc.string({ maxLength: 4 }), refPath, fc.string({ maxLength: 4 }))
    .map(([a, p, b]) => `${a}\${${p}}${b}`),
);
const number = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1e21, Number.MAX_SAFE_INTEGER * 8, 1e308, -1e-320, 2 ** 53 + 1),
);
const scalar = fc.oneof(
  { weight: 3, arbitrary: number },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: garbageString },
  { weight: 3, arbitrary: refString },
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 3 }) },
    { weight: 2, arbitrary: tie('tree') },
  ),
  tree: fc.dictionary(fc.oneof(fc.constantFrom(...PARAM_KEYS), garbageString), tie('value'), { maxKeys: 4 }),
}));
const paramTree = fc.dictionary(fc.constantFrom(...PARAM_KEYS), value, { maxKeys: 5 });

/** `depth` nested mappings (or lists) around a value: deep nesting. */
const deep = fc.tuple(fc.integer({ min: 20, max: 400 }), fc.boolean(), scalar).map(([depth, lists, leaf]) => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = lists ? [v] : { a: v };
  return v;
});

const pathList = fc.array(
  fc.oneof(
    fc.constantFrom('data', 'x.txt', 'out/y.bin', '../up', '/abs', '', '.', 'a/../b', 'c/'),
    garbageString,
  ),
  { maxLength: 3 },
);
const needs = fc.oneof(
  fc.array(stageName, { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('codes', 'shards', 'audio', 'model', 'x'), stageName, { maxKeys: 3 }),
  scalar,
);
const cmdStage = fc.record(
  {
    cmd: fc.oneof(refString, garbageString, fc.constant('echo ${a} > x.txt')),
    deps: pathList,
    outs: pathList,
    needs,
  },
  { requiredKeys: ['cmd'] },
);
const usesStage = fc.record(
  {
    uses: fc.oneof(
      fc.constantFrom('tone', 'fake-codes', 'shard', 'train', 'codec', 'evaluate', 'sample'),
      garbageString,
    ),
    with: fc.oneof(
      fc.dictionary(
        fc.constantFrom('frequency', 'samples', 'seed', 'frames', 'layout', 'context_length', 'encoder', 'x'),
        value,
        { maxKeys: 4 },
      ),
      scalar,
    ),
    needs,
  },
  { requiredKeys: ['uses'] },
);
const stage = fc.oneof(
  { weight: 4, arbitrary: cmdStage },
  { weight: 4, arbitrary: usesStage },
  { weight: 1, arbitrary: fc.tuple(cmdStage, usesStage).map(([c, u]) => ({ ...c, ...u })) },
  { weight: 1, arbitrary: fc.record({ outz: pathList, cmd: garbageString }) },
  { weight: 1, arbitrary: value },
);
const stages = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(stageName, stage, { maxKeys: 5 }) },
  { weight: 1, arbitrary: scalar },
);
const rootSpec = fc.record(
  {
    description: fc.oneof(garbageString, number),
    params: fc.oneof(
      { weight: 6, arbitrary: paramTree },
      { weight: 1, arbitrary: deep },
      { weight: 1, arbitrary: scalar },
    ),
    stages,
    extra: value,
  },
  { requiredKeys: [] },
);
const experiment = fc.record(
  {
    // Index of the file it extends: -1 pipeline.yaml, k an earlier/later experiment (loops), or junk.
    extends: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.constantFrom('missing.yaml', '', '/'), number),
    params: fc.oneof({ weight: 6, arbitrary: paramTree }, { weight: 1, arbitrary: scalar }),
    stages: fc.constant({ a: { cmd: 'true' } }),
  },
  { requiredKeys: ['extends'] },
);
const set = fc.oneof(
  fc
    .tuple(
      refPath,
      fc.oneof(fc.constantFrom('1', 'x', '[1, 2]', '{a: 1}', '', 'null', '.inf', '${a}'), garbageString),
    )
    .map(([p, v]) => `${p}=${v}`),
  garbageString,
);

/** Damage to the YAML text itself. */
const damage = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.oneof(
        fc.constantFrom(
          '\t',
          '{',
          '}',
          '[',
          ':',
          '"',
          "'",
          '&a ',
          '*a',
          '!!int ',
          '\n  ',
          '- ',
          '#',
          '%',
          '\r\n',
          '\uFEFF',
        ),
        garbageString,
      ),
    }),
  },
);
const nasty = fc.constantFrom(
  '',
  '---\n...\n',
  '- 1\n- 2\n',
  'just a string\n',
  'stages: &s\n  a: *s\n',
  'a: &a [*a]\n',
  'params:\n  a: &x {b: 1}\n  c: *x\n  d: *missing\n',
  'params: {a: 1, a: 2}\n',
  '? [complex, key]\n: 1\n',
  'params:\n  x: !!binary aGVsbG8=\n  y: !!timestamp 2001-12-14\n  z: !custom 1\n',
  'stages:\n  a:\n    cmd: |\n      echo ${a\n',
  '%YAML 1.1\n---\nparams: {a: yes, b: 0o17, c: 0x1F, d: 1_000}\n',
  'params:\n  big: 123456789012345678901234567890\n  huge: 1e400\n',
  'stages: {a: {cmd: "echo ${a}", needs: [a]}}\n',
);

/** Anything the grammar allows, and much it does not: most of these are rejected. */
const hostile = fc.record({
  root: fc.oneof({ weight: 8, arbitrary: rootSpec }, { weight: 1, arbitrary: value }),
  experiments: fc.array(experiment, { maxLength: 3 }),
  sets: fc.array(set, { maxLength: 2 }),
  damage,
  damageExperiment: damage,
  nasty: fc.option(nasty, { freq: 8 }),
});

/** Dotted param paths of the plausible specs below, with values of their own type (mostly). */
const positive = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 1_000_000 }) },
  { weight: 2, arbitrary: fc.double({ min: 1, max: 1e12, noNaN: true }) },
  { weight: 1, arbitrary: number },
);
const text = fc.string({ unit: 'grapheme', maxLength: 8 });
const PLAUSIBLE: Record<string, fc.Arbitrary<unknown>> = {
  n: positive,
  'train.lr': fc.double({ noNaN: true, noDefaultInfinity: true }),
  'train.context_length': positive,
  'train.tag': fc.oneof(text, refString),
  'data.name': text,
  'data.files': fc.array(fc.oneof(text, refString), { maxLength: 3 }),
};
const PLAUSIBLE_PATHS = Object.keys(PLAUSIBLE);
const nested = (path: string, v: unknown): unknown =>
  path.split('.').reduceRight<unknown>((inner, key) => ({ [key]: inner }), v);
/** A path and a value for it: of its own type, or now and then anything. */
const override = fc
  .constantFrom(...PLAUSIBLE_PATHS)
  .chain((path) =>
    fc.tuple(
      fc.constant(path),
      fc.oneof({ weight: 6, arbitrary: PLAUSIBLE[path]! }, { weight: 1, arbitrary: scalar }),
    ),
  );

/**
 * Specs that follow the grammar (params with cross-references, a DAG of cmd: and uses: stages,
 * an extends chain of experiments overriding params, --set), with values drawn freely: many
 * resolve, the rest fail on types, ranges or a small dose of text damage.
 */
const plausible = fc
  .record({
    n: positive,
    lr: number,
    ctx: positive,
    name: text,
    kinds: fc.array(fc.constantFrom('cmd', 'tone', 'codes', 'shard'), { minLength: 1, maxLength: 5 }),
    picks: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    overrides: fc.array(fc.array(override, { maxLength: 3 }), { maxLength: 3 }),
    sets: fc.array(override, { maxLength: 2 }),
    damage: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: damage }),
  })
  .map((p): SpecCase => {
    const stages: Record<string, unknown> = {};
    p.kinds.forEach((kind, i) => {
      const earlier = i > 0 ? `s${p.picks[i]! % i}` : undefined;
      if (kind === 'cmd') {
        stages[`s${i}`] = {
          cmd: `echo \${train.lr} 'x'\${data.name}'y' "\${train.tag}" > o${i}.txt`,
          deps:
            earlier && stages[earlier] && 'cmd' in (stages[earlier] as object)
              ? [`o${p.picks[i]! % i}.txt`]
              : [],
          outs: [`o${i}.txt`],
          ...(earlier ? { needs: [earlier] } : {}),
        };
      } else if (kind === 'tone') stages[`s${i}`] = { uses: 'tone', with: { frequency: '${n}', samples: 8 } };
      else if (kind === 'codes')
        stages[`s${i}`] = { uses: 'fake-codes', with: { seed: '${n}', frames: [1, 2] } };
      else
        stages[`s${i}`] = {
          uses: 'shard',
          needs: earlier ? { codes: earlier } : [],
          with: { layout: 'gpt2o' },
        };
    });
    const root = {
      params: {
        n: p.n,
        train: { lr: p.lr, context_length: p.ctx, tag: 'ctx${train.context_length}' },
        data: { name: p.name, files: ['a', '${data.name}'] },
      },
      stages,
    };
    const experiments = p.overrides.map((o, i) => ({
      extends: i - 1,
      params: o.reduce((tree, [path, v]) => mergeTrees(tree, nested(path, v)), {} as Record<string, unknown>),
    }));
    return {
      root,
      experiments,
      sets: p.sets.map(([path, v]) => `${path}=${typeof v === 'string' ? v : JSON.stringify(v)}`),
      damage: p.damage,
      damageExperiment: undefined,
      nasty: null,
    };
  });

function mergeTrees(a: Record<string, unknown>, b: unknown): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) {
    const current = out[k];
    out[k] =
      current &&
      typeof current === 'object' &&
      !Array.isArray(current) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
        ? mergeTrees(current as Record<string, unknown>, v)
        : v;
  }
  return out;
}

const spec: fc.Arbitrary<SpecCase> = fc.oneof(hostile, plausible);

// ---- checks

interface Written {
  dir: string;
  entry: string;
  /** Absolute path → its text. */
  files: Map<string, string>;
}

function applyDamage(text: string, d: Damage | null | undefined): string {
  if (!d) return text;
  const at = text.length === 0 ? 0 : d.at % (text.length + 1);
  return d.kind === 'truncate' ? text.slice(0, at) : text.slice(0, at) + d.text + text.slice(at);
}
type Damage = { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; text: string } | undefined;

let counter = 0;
async function write(c: SpecCase): Promise<Written> {
  const yaml = await loadYaml();
  const dir = join(root, `case-${counter++}`);
  mkdirSync(join(dir, 'experiments'), { recursive: true });
  const files = new Map<string, string>();
  const put = (rel: string, text: string) => {
    writeFileSync(join(dir, rel), text);
    files.set(join(dir, rel), text);
  };
  const stringify = (v: unknown) => {
    try {
      return yaml.stringify(v, { aliasDuplicateObjects: false });
    } catch {
      return String(v);
    }
  };
  put('pipeline.yaml', c.nasty ?? applyDamage(stringify(c.root), c.damage));
  c.experiments.forEach((e, i) => {
    const target =
      typeof e.extends === 'number' && Number.isInteger(e.extends) && e.extends >= -1 && e.extends <= 3
        ? e.extends === -1
          ? '../pipeline.yaml'
          : `e${e.extends}.yaml`
        : e.extends;
    const text = stringify({ ...e, extends: target });
    put(
      `experiments/e${i}.yaml`,
      i === c.experiments.length - 1 ? applyDamage(text, c.damageExperiment) : text,
    );
  });
  const entry =
    c.experiments.length > 0
      ? join(dir, `experiments/e${c.experiments.length - 1}.yaml`)
      : join(dir, 'pipeline.yaml');
  return { dir, entry, files };
}
interface SpecCase {
  root: unknown;
  experiments: { extends: unknown; params?: unknown; stages?: unknown }[];
  sets: string[];
  damage: Damage | null;
  damageExperiment: Damage | null;
  nasty: string | null;
}

type Outcome = { ok: string } | { errors: PipeError[] } | { knownBug: string };

/**
 * Known bugs, each pinned by a todo test below; the property counts them instead of failing, so it
 * keeps checking everything else. Remove an entry once its bug is fixed.
 */
const KNOWN_BUGS: [string, RegExp][] = [];

async function load(w: Written, sets: string[]): Promise<Outcome> {
  try {
    const resolved = await resolveSpec(w.entry, { registry: fixtureStages, sets });
    return { ok: JSON.stringify(resolved, (k, v) => (k === 'definition' ? undefined : v)) };
  } catch (error) {
    const known = KNOWN_BUGS.find(([, pattern]) => pattern.test(String(error)));
    if (known) return { knownBug: known[0] };
    if (!(error instanceof PipeError)) {
      const stack = error instanceof Error ? error.stack : String(error);
      assert.fail(`resolveSpec threw something other than a PipeError:\n${stack}`);
    }
    return { errors: error instanceof PipeErrorList ? error.errors : [error] };
  }
}

/** Checks every error; returns how many were the known --set bug. */
function checkLocated(errors: PipeError[], w: Written, sets: string[]): number {
  const known = 0;
  for (const e of errors) {
    const shown = formatError(e, process.cwd());
    assert.doesNotMatch(shown, /internal error/);
    const what = `${e.code}: ${e.message}`;
    assert.equal(e.exitCode, 2, `${what}: a spec error exits 2`);
    if (e.loc) {
      const text = w.files.get(e.loc.file);
      assert.ok(text !== undefined, `${what}: located in ${e.loc.file}, not a file of this spec`);
      const lines = text.split(/\r\n|\r|\n/).length;
      assert.ok(
        Number.isInteger(e.loc.line) && e.loc.line >= 1 && e.loc.line <= lines + 1,
        `${what}: line ${e.loc.line} of ${lines}`,
      );
      assert.ok(Number.isInteger(e.loc.col) && e.loc.col >= 1, `${what}: column ${e.loc.col}`);
      continue;
    }
    // Without a place in a file: a usage error about a --set (it names the argument), or an error
    // about a whole file that names it (a missing experiment file).
    const namesSet = sets.some(
      (s) =>
        e.message.startsWith(`--set ${s}: `) ||
        e.message.startsWith(`--set "${s}"`) ||
        e.message.startsWith(`--set ${s.slice(0, s.indexOf('='))}: `),
    );
    const namesFile = [w.entry, ...w.files.keys()].some((f) => e.message.includes(basename(f)));
    const namesMissing = /cannot read spec file \S+/.test(e.message);
    assert.ok(namesSet || namesFile || namesMissing, `${what}: no location and names no file or argument`);
  }
  return known;
}

function summary(o: Outcome): string {
  if ('ok' in o) return o.ok;
  if ('knownBug' in o) return o.knownBug;
  return JSON.stringify(o.errors.map((e) => [e.code, e.message, e.loc?.file, e.loc?.line, e.loc?.col]));
}

test('the spec loader only ever throws located PipeErrors, and a parse-cache hit changes nothing', async (t) => {
  const seen = { ok: 0, errors: 0, codes: new Set<string>(), knownBugs: 0 };
  await fc.assert(
    fc.asyncProperty(spec, async (c) => {
      const w = await write(c);
      try {
        const first = await load(w, c.sets);
        if ('errors' in first) {
          if (checkLocated(first.errors, w, c.sets) > 0) seen.knownBugs++;
          seen.errors++;
          for (const e of first.errors) seen.codes.add(e.code);
        } else if ('knownBug' in first) seen.knownBugs++;
        else seen.ok++;
        const second = await load(w, c.sets);
        assert.equal(summary(second), summary(first), 'second load differs');
      } finally {
        rmSync(w.dir, { recursive: true, force: true });
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  t.diagnostic(
    `spec fuzz: ${RUNS} runs (seed ${SEED}): ${seen.ok} resolved, ${seen.errors} rejected with ${[...seen.codes].sort().join(', ')}; ${seen.knownBugs} hit a known bug (todo tests)`,
  );
});

// Found by the property above: the parse cache stores the parsed value as JSON, which has no
// Infinity, NaN, Date or bytes. On the second load of an unchanged file `.inf`, `-.inf`, `.nan` and
// numbers beyond 1.8e308 come back as null, `!!timestamp` as a string (a Date, on the first load,
// even becomes {} in the params) and `!!binary` as {"type":"Buffer",...}: a spec that resolved the
// first time fails the next (here the tone stage's frequency becomes null), or a key changes.
// Remove `todo` once parse-cache.ts (or parseFresh) keeps them or rejects them with a location.
test('a parse-cache hit gives the same params as a miss', async () => {
  const dir = join(root, 'non-json');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(
    file,
    'params:\n  x: .inf\n  y: .nan\n  z: 1e400\nstages:\n  t:\n    uses: tone\n    with:\n      frequency: ${x}\n',
  );
  const first = await resolveSpec(file, { registry: fixtureStages });
  assert.equal(first.params.x, Number.POSITIVE_INFINITY);
  const second = await resolveSpec(file, { registry: fixtureStages });
  assert.deepEqual(second.params, first.params);
  writeFileSync(file, 'params:\n  b: !!binary aGVsbG8=\n  d: !!timestamp 2001-12-14\nstages: {}\n');
  const third = await resolveSpec(file, { registry: fixtureStages });
  const fourth = await resolveSpec(file, { registry: fixtureStages });
  assert.equal(JSON.stringify(fourth.params), JSON.stringify(third.params));
});

// Found by the property above: yaml's parseDocument reports no error for an alias with no anchor
// (`*missing`) or for more aliases than maxAliasCount allows; Document.toJS then throws a plain
// ReferenceError, which yaml-file.ts's parseFresh does not catch, so the CLI prints "internal error
// (a bug in gpt2o-pipe ...)" with a stack and exits 70 instead of a located E_SPEC_YAML and 2.
test('an unresolved or excessive YAML alias is a located spec error', async () => {
  const dir = join(root, 'alias');
  mkdirSync(dir, { recursive: true });
  const laughs = ['params:', '  l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 6; i++)
    laughs.push(
      `  l${i}: &l${i} [${Array(10)
        .fill(`*l${i - 1}`)
        .join(', ')}]`,
    );
  for (const text of ['params:\n  a: 1\n  d: *missing\nstages: {}\n', `${laughs.join('\n')}\nstages: {}\n`]) {
    writeFileSync(join(dir, 'pipeline.yaml'), text);
    await assert.rejects(resolveSpec(join(dir, 'pipeline.yaml'), { registry: fixtureStages }), (error) => {
      assert.ok(error instanceof PipeError, String(error));
      assert.ok(error.loc && error.loc.line >= 2, `located: ${JSON.stringify(error.loc)}`);
      return true;
    });
  }
});

// Found by the property above: a --set value is checked for its type, but the ${} inside it is
// resolved later with the other params, where it has no origin: `--set tag=\${nope}` prints
// "error E_SPEC_UNKNOWN_PARAM / unknown param \${nope}" and `--set lr=\${` prints "error
// E_SPEC_TEMPLATE / unclosed "\${"", with neither a place nor a word about --set. They should
// read like the other --set errors: "--set tag=\${nope}: unknown param ...".
test('a ${} error inside a --set value names the --set', async () => {
  const dir = join(root, 'set-ref');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    'params:\n  tag: x\n  lr: 1\nstages:\n  s:\n    cmd: echo ${tag} ${lr}\n',
  );
  const sets = ['tag=${nope}', 'lr=${'];
  await assert.rejects(
    resolveSpec(join(dir, 'pipeline.yaml'), { registry: fixtureStages, sets }),
    (error) => {
      assert.ok(error instanceof PipeErrorList && error.errors.length === 2, String(error));
      for (const [i, e] of error.errors.entries()) {
        const [path, value] = sets[i]!.split('=') as [string, string];
        assert.ok(e.message.startsWith(`--set ${path}: `) && e.message.includes(`"${value}"`), e.message);
      }
      return true;
    },
  );
});
