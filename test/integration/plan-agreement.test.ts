// `run --dry-run --json` and `status --json` read the same plan (src/run/plan.ts), so they must
// agree stage by stage: cached ⇔ up-to-date, the same key where one is known, and a stage that is
// not served is stale or never run in status. Each row builds a real project, runs it, changes one
// thing, then asks both commands. The expected dry-run outcome is written out per row, so a row
// also pins what the plan decides.
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { cli, makeWorkspace, type Workspace } from '../helpers/workspace.ts';

//   in.txt ─► a ─┐
//   ${n} ───► b ─┴─► c          tone ─► d
const PIPELINE = (opts: { n?: number; aCmd?: string; note?: string; executor?: string } = {}) => `
params:
  n: ${opts.n ?? 1}
stages:
  a:
    cmd: ${opts.aCmd ?? 'cat in.txt > a.txt'}
    deps: [in.txt]
    outs: [a.txt]
  b:
    cmd: echo "n=\${n}" > b.txt
    outs: [b.txt]${opts.executor ? `\n    executor: ${opts.executor}` : ''}
  c:
    cmd: cat a.txt b.txt > c.txt
    needs: [a, b]
    outs: [c.txt]
  t:
    uses: tone
    with: { frequency: 440, samples: 8${opts.note ? `, note: ${opts.note}` : ''} }
  d:
    cmd: wc -l < t/tone.txt > d.txt
    needs: [t]
    outs: [d.txt]
`;

interface Row {
  situation: string;
  /** Change the project or cache after a full run (or instead of it, with `fresh`). */
  change(ws: Workspace): void;
  fresh?: boolean;
  /** Extra arguments for both commands. */
  args?: string[];
  /** What run --dry-run says per stage (cached stages omitted). */
  dry: Record<string, string>;
}

/** The cache object holding `content` (the store names objects by digest; find it by bytes). */
function objectHolding(ws: Workspace, content: string): string {
  const root = ws.path('cache/objects');
  for (const fan of readdirSync(root))
    for (const name of readdirSync(join(root, fan))) {
      const path = join(root, fan, name);
      if (readFileSync(path, 'utf8') === content) return path;
    }
  throw new Error(`no object holds ${JSON.stringify(content)}`);
}

const ROWS: Row[] = [
  { situation: 'nothing changed', change: () => {}, dry: {} },
  {
    situation: 'changed param',
    change: (ws) => ws.write('pipeline.yaml', PIPELINE({ n: 2 })),
    dry: { b: 'would-run', c: 'would-run' },
  },
  {
    situation: 'changed dep',
    change: (ws) => ws.write('in.txt', 'other\n'),
    dry: { a: 'would-run', c: 'would-run' },
  },
  {
    situation: 'missing object',
    change: (ws) => rmSync(objectHolding(ws, 'n=1\n')),
    dry: { b: 'would-run', c: 'would-run' },
  },
  {
    situation: 'corrupt object (same size)',
    change: (ws) => {
      const path = objectHolding(ws, 'hello\n');
      chmodSync(path, 0o644);
      writeFileSync(path, 'HELLO\n');
    },
    dry: { a: 'would-run', c: 'would-run' },
  },
  {
    situation: 'forced stage',
    change: () => {},
    args: ['--force', 'a'],
    dry: { a: 'would-run', c: 'would-run' },
  },
  {
    situation: 'upstream failed (dep removed)',
    change: (ws) => rmSync(ws.path('in.txt')),
    dry: { a: 'failed', c: 'skipped' },
  },
  {
    situation: 'never run',
    fresh: true,
    change: () => {},
    dry: { a: 'would-run', b: 'would-run', c: 'would-run', t: 'would-run', d: 'would-run' },
  },
  {
    situation: 'early cutoff (a new command, same bytes, already rerun)',
    change: (ws) => {
      ws.write('pipeline.yaml', PIPELINE({ aCmd: 'cat < in.txt > a.txt' }));
    },
    // Before the rerun a is stale and c waits on it; the rerun itself is checked below.
    dry: { a: 'would-run', c: 'would-run' },
  },
  {
    situation: 'keyless change (a built-in stage label)',
    change: (ws) => ws.write('pipeline.yaml', PIPELINE({ note: 'relabelled' })),
    dry: {},
  },
  {
    situation: 'Slurm stage, never run (no cluster needed to plan)',
    change: (ws) => ws.write('pipeline.yaml', PIPELINE({ n: 3, executor: 'slurm' })),
    dry: { b: 'would-run', c: 'would-run' },
  },
  {
    // A real run submits c at once, after b's job (plan action submit, unkeyed); a dry run
    // submits nothing, so both commands say c would run and give it no key.
    situation: 'every stage on Slurm, one changed: its dependent would be submitted after its job',
    change: (ws) => ws.write('pipeline.yaml', `executor: slurm\n${PIPELINE({ n: 3 })}`),
    dry: { b: 'would-run', c: 'would-run' },
  },
];

async function dryRun(ws: Workspace, args: string[]) {
  const r = await cli(ws.dir, ['run', '--dry-run', '--json', ...args], { registry: fixtureStages });
  const json = JSON.parse(r.stdout) as { stages: { name: string; status: string; key: string | null }[] };
  return new Map(json.stages.map((s) => [s.name, s]));
}

async function status(ws: Workspace, args: string[]) {
  const r = await cli(ws.dir, ['status', '--json', ...args], { registry: fixtureStages });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as {
    experiments: { stages: { name: string; state: string; key: string | null; reasons: string[] }[] }[];
  };
  return new Map(json.experiments[0]!.stages.map((s) => [s.name, s]));
}

describe('run --dry-run and status agree stage by stage', () => {
  for (const row of ROWS) {
    test(row.situation, async () => {
      const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE(), 'in.txt': 'hello\n' });
      try {
        if (!row.fresh) {
          const first = await cli(ws.dir, ['run'], { registry: fixtureStages });
          assert.equal(first.code, 0, first.stderr);
        }
        row.change(ws);
        const args = row.args ?? [];
        const dry = await dryRun(ws, args);
        const stat = await status(ws, args);
        assert.deepEqual([...dry.keys()], [...stat.keys()]);
        const said = Object.fromEntries(
          [...dry.values()].filter((s) => s.status !== 'cached').map((s) => [s.name, s.status]),
        );
        assert.deepEqual(said, row.dry);
        for (const [name, d] of dry) {
          const s = stat.get(name)!;
          assert.equal(s.state === 'up-to-date', d.status === 'cached', `${name}: ${d.status} vs ${s.state}`);
          assert.equal(s.state === 'never-run', row.fresh === true, `${name}: ${s.state}`);
          assert.equal(s.key, d.key, `${name}: the same key`);
          if (s.state === 'stale') assert.ok(s.reasons.length > 0, `${name}: status says why`);
        }
      } finally {
        ws.remove();
      }
    });
  }

  test('early cutoff: after the rerun a is cached again and c was never re-keyed', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE(), 'in.txt': 'hello\n' });
    try {
      await cli(ws.dir, ['run'], { registry: fixtureStages });
      const before = await status(ws, []);
      ws.write('pipeline.yaml', PIPELINE({ aCmd: 'cat < in.txt > a.txt' }));
      const rerun = await cli(ws.dir, ['run', '--json'], { registry: fixtureStages });
      const ran = JSON.parse(rerun.stdout).stages.map((s: { name: string; status: string }) => [
        s.name,
        s.status,
      ]);
      assert.deepEqual(Object.fromEntries(ran), {
        a: 'ran',
        b: 'cached',
        c: 'cached',
        t: 'cached',
        d: 'cached',
      });
      const after = await status(ws, []);
      const dry = await dryRun(ws, []);
      assert.equal(after.get('c')!.key, before.get('c')!.key);
      for (const [name, s] of after) {
        assert.equal(s.state, 'up-to-date');
        assert.equal(dry.get(name)!.status, 'cached');
        assert.equal(dry.get(name)!.key, s.key);
      }
    } finally {
      ws.remove();
    }
  });

  test('status remembers what it hashed: a touched dep is hashed once, not by every status', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE(), 'in.txt': 'hello\n' });
    try {
      // The stat cache skips files changed (mtime or ctime) in the last 2 s: let them settle.
      const settle = () => new Promise((resolve) => setTimeout(resolve, 2_500));
      await settle();
      await cli(ws.dir, ['run'], { registry: fixtureStages });
      // Same bytes, a new mtime.
      const then = new Date(Date.now() - 60_000);
      utimesSync(ws.path('in.txt'), then, then);
      await settle();
      // A line of the stat cache: size, mtime, ctime, inode, digest, path (tab separated).
      const mtimeRemembered = () =>
        ws
          .read('cache/stat-cache.txt')
          .split('\n')
          .find((line) => line.endsWith(`\t${ws.path('in.txt')}`))
          ?.split('\t')[1];
      assert.notEqual(mtimeRemembered(), String(statSync(ws.path('in.txt')).mtimeMs));
      assert.equal((await status(ws, [])).get('a')!.state, 'up-to-date');
      assert.equal(mtimeRemembered(), String(statSync(ws.path('in.txt')).mtimeMs));
    } finally {
      ws.remove();
    }
  });

  test('a forced stage that does not exist is a usage error for both, with a suggestion', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE(), 'in.txt': 'hello\n' });
    try {
      for (const command of [['run', '--dry-run'], ['status']]) {
        const r = await cli(ws.dir, [...command, '--force', 'aa'], { registry: fixtureStages });
        assert.equal(r.code, 2, command.join(' '));
        assert.match(
          r.stderr,
          /error E_USAGE_UNKNOWN_STAGE\n {2}no stage named "aa" in pipeline\.yaml\n {2}hint: did you mean "a"\?/,
        );
      }
    } finally {
      ws.remove();
    }
  });

  test('status names why: the forced stage says "forced", the corrupt one names the object', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE(), 'in.txt': 'hello\n' });
    try {
      await cli(ws.dir, ['run'], { registry: fixtureStages });
      assert.deepEqual((await status(ws, ['--force', 'a'])).get('a')!.reasons, ['forced']);
      rmSync(objectHolding(ws, 'n=1\n'));
      const reasons = (await status(ws, [])).get('b')!.reasons.join('\n');
      assert.match(reasons, /is missing/);
    } finally {
      ws.remove();
    }
  });
});
