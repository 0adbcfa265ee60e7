// Templates, and param values in `cmd:`. The property test generates commands that nest every shell
// context (bare words, '…', "…", $(…), `…`, ${…:-…}, $((…)), here-documents, comments, case,
// backslashes) around refs, fills them with hostile values, and runs what renderCmd accepts through
// a real `sh`: a command is either refused, or prints each value byte for byte and runs nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { renderCmd } from '../../src/pipeline/cmd-env.ts';
import { parseTemplate, TemplateSyntaxError } from '../../src/pipeline/template.ts';

const dir = mkdtempSync(join(tmpdir(), 'gpt2o-template-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MARK = join(dir, 'pwned');

function render(template: string, values: Record<string, unknown>) {
  return renderCmd(parseTemplate(template), (ref) => values[ref]);
}

// `sh` is dash on Debian and bash elsewhere (macOS): the command must mean the same to both.
const SHELLS = ['sh', ...(spawnSync('bash', ['-c', ':']).status === 0 ? ['bash'] : [])];

function sh(cmd: string, env: Record<string, string>): string {
  const outputs = SHELLS.map((shell) => {
    const r = spawnSync(shell, ['-c', cmd], { encoding: 'utf8', cwd: dir, env: { ...process.env, ...env } });
    assert.equal(r.status, 0, `${shell}: ${cmd}\n${r.stderr}`);
    return r.stdout;
  });
  for (const out of outputs) assert.equal(out, outputs[0], cmd);
  return outputs[0]!;
}

// ---- generated commands: an expression, what it prints when accepted, and whether it must be

interface Expr {
  src: string;
  out: (value: string) => string;
  accept: boolean;
}

const literal = fc.constantFrom('', 'a', 'x-', '=', ':', '.,');
const spaced = fc.constantFrom('', ' ', 'a = ', ' :\t');
const ref: Expr = { src: '${v}', out: (v) => v, accept: true };

// A word in an unquoted (plain) context that expands to exactly one word.
const word: fc.Memo<Expr> = fc.memo((depth) =>
  depth <= 1
    ? fc.constant(ref)
    : fc.oneof(
        { weight: 6, arbitrary: fc.constant(ref) },
        {
          weight: 10,
          arbitrary: fc.tuple(literal, dquoted(depth - 1), literal).map(([a, d, b]) => ({
            src: `${a}"${d.src}"${b}`,
            out: (v: string) => a + d.out(v) + b,
            accept: d.accept,
          })),
        },
        // Contexts that must be refused, around anything.
        word(depth - 1)
          .filter((w) => !w.src.includes("'"))
          .map((w) => ({ src: `'${w.src}'`, out: () => '', accept: false })),
        // (`…` do not nest without escapes, so only around a word without them.)
        word(depth - 1)
          .filter((w) => !w.src.includes('`'))
          .map((w) => ({ src: `"\`printf '%s' ${w.src}\`"`, out: () => '', accept: false })),
        word(depth - 1).map((w) => ({ src: `"$\${x:-${w.src}}"`, out: () => '', accept: false })),
        word(depth - 1).map((w) => ({ src: `$((${w.src}))`, out: () => '', accept: false })),
        fc.constant({ src: '\\${v}', out: () => '', accept: false }),
        word(depth - 1).map((w) => ({
          src: `"$(case a in a) printf '%s' ${w.src};; esac)"`,
          out: () => '',
          accept: false,
        })),
      ),
);

// The inside of "…".
function dquoted(depth: number): fc.Arbitrary<Expr> {
  return fc.oneof(
    fc
      .tuple(spaced, spaced)
      .map(([a, b]) => ({ src: `${a}\${v}${b}`, out: (v: string) => a + v + b, accept: true })),
    // $(…) nested in "…", with quotes of its own: a fresh context.
    word(depth).map((w) => ({
      src: `$(printf '%s.' ${w.src})`,
      out: (v: string) => `${w.out(v)}.`,
      accept: w.accept,
    })),
    // An unquoted here-document: its body expands ${…} (and $(…)) but reads quotes as text.
    fc
      .oneof(
        fc.constant(ref),
        word(depth).map((w) => ({
          ...w,
          src: `$(printf '%s.' ${w.src})`,
          out: (v: string) => `${w.out(v)}.`,
        })),
      )
      .map((b) => ({
        // (A delimiter per depth: nested bodies ending at the same line are read differently by dash and bash.)
        src: `$(cat <<EOF${depth}\n${b.src}.\nEOF${depth}\n)`,
        out: (v: string) => `${b.out(v)}.`,
        accept: b.accept,
      })),
    fc.constant({ src: "$(cat <<'EOF'\n${v}\nEOF\n)", out: () => '', accept: false }),
    fc.constant({ src: "$(printf '%s' '${v}')", out: () => '', accept: false }),
  );
}

const command = fc.array(word(4), { minLength: 1, maxLength: 2 }).chain((words) =>
  fc.constantFrom(' # ${v}', '', '', '\n').map((tail) => ({
    template: `printf '%s|' ${words.map((w) => w.src).join(' ')}${tail}`,
    out: (v: string) => words.map((w) => `${w.out(v)}|`).join(''),
    accept: words.every((w) => w.accept) && tail !== ' # ${v}',
  })),
);

const attacks = [
  `; touch ${MARK}`,
  `$(touch ${MARK})`,
  `\`touch ${MARK}\``,
  `'; touch ${MARK}; '`,
  `"; touch ${MARK}; "`,
  `\ntouch ${MARK}\n`,
  `\nEOF\ntouch ${MARK}\n`,
  ')',
  '}',
  '$((1+1))',
  '${IFS}',
  '*',
  '~',
  '\\',
  '\\\\"',
  '\t',
  ' ',
  '-n',
  '%s',
  'é',
  '😀',
  '\r\n',
  "'",
  '"',
  '$',
  'a[$(touch x)]',
];
const hostile = fc.oneof(
  fc.array(fc.constantFrom(...attacks), { maxLength: 4 }).map((a) => a.join('')),
  fc
    .string({ unit: 'binary', maxLength: 30 })
    .filter((s) => !s.includes('\0') && !/[\uD800-\uDFFF]/u.test(s)),
);

describe('templates', () => {
  test('parses refs, literal text and $${ escapes', () => {
    assert.deepEqual(parseTemplate('a ${x.y} b $${HOME} ${ z }'), [
      { text: 'a ' },
      { ref: 'x.y', offset: 2 },
      { text: ' b ${HOME} ' },
      { ref: 'z', offset: 20 },
    ]);
    assert.throws(() => parseTemplate('${unclosed'), TemplateSyntaxError);
    assert.throws(() => parseTemplate('${not a ref}'), /not a param reference/);
  });

  test('no value is ever part of the shell source: refs become quoted variables', () => {
    const { rendered, problems } = render('echo "$(basename ${name})" ${name} > o', {
      name: 'x; touch /tmp/pwned',
    });
    assert.deepEqual(problems, []);
    assert.equal(rendered.cmd, 'echo "$(basename "${GPT2O_P_name}")" "${GPT2O_P_name}" > o');
    assert.deepEqual(rendered.env, { GPT2O_P_name: 'x; touch /tmp/pwned' });
  });

  test('variable names: sanitised paths, clashes numbered, list items one variable each', () => {
    const { rendered } = render('a ${a.b} ${a_b} ${files} "${files}"', {
      'a.b': 1,
      a_b: 2,
      files: ['x y', 3],
    });
    assert.equal(
      rendered.cmd,
      'a "${GPT2O_P_a_b}" "${GPT2O_P_a_b_2}" "${GPT2O_P_files_0}" "${GPT2O_P_files_1}" "${GPT2O_P_files}"',
    );
    assert.deepEqual(rendered.env, {
      GPT2O_P_a_b: '1',
      GPT2O_P_a_b_2: '2',
      GPT2O_P_files_0: 'x y',
      GPT2O_P_files_1: '3',
      GPT2O_P_files: 'x y 3',
    });
    assert.equal(sh(`printf '[%s]' ${rendered.cmd.slice(2)}`, rendered.env), '[1][2][x y][3][x y 3]');
  });

  test('each refused context says where the ref is, and why', () => {
    const cases: [string, RegExp][] = [
      ["echo '${v}'", /single quotes/],
      ['echo `echo ${v}`', /backquotes/],
      ['echo $${x:-${v}}', /\$\{…\} expansion/],
      ['echo $((${v} + 1))', /arithmetic\), and its value "x" is not a whole number/],
      ['((n = ${v}))', /arithmetic/],
      ['echo hi # ${v}', /comment/],
      ['echo \\${v}', /backslash/],
      ["cat <<'EOF'\n${v}\nEOF", /quoted here-document/],
      ['cat <<${v}\nx\n', /delimiter/],
      ['echo "$(case a in a) echo ${v};; esac)"', /case statement/],
      ["echo $'\\'' ${v}", /\$'…'/],
      ['echo $${x:-"a"} ${v}', /quotes inside/],
    ];
    for (const [template, why] of cases) {
      const { problems } = render(template, { v: 'x' });
      assert.equal(problems.length, 1, template);
      assert.match(problems[0]!.message, why, template);
      assert.ok(problems[0]!.hint.length > 10, template);
    }
  });

  test('a whole number may go into $((…)); nothing else may', () => {
    const ok = render('echo $(( ${n} % 7 ))', { n: -12345 });
    assert.deepEqual(ok.problems, []);
    assert.equal(sh(ok.rendered.cmd, ok.rendered.env), '-4\n');
    for (const n of [1.5, 1e21, '3', 'a[$(touch x)]', true, null]) {
      assert.equal(render('echo $(( ${n} ))', { n }).problems.length, 1, String(n));
    }
  });

  test('a NUL or a lone surrogate in a value is refused: a command cannot be given it', () => {
    assert.match(render('echo ${v}', { v: 'a\0b' }).problems[0]!.message, /NUL/);
    assert.match(render('echo ${v}', { v: 'a\uD800' }).problems[0]!.message, /surrogate/);
  });

  test('generated commands mixing shell contexts: refused, or the value byte for byte', () => {
    let ran = 0;
    fc.assert(
      fc.property(command, hostile, (cmd, value) => {
        const { rendered, problems } = render(cmd.template, { v: value });
        assert.equal(problems.length === 0, cmd.accept, `${cmd.template}\n${JSON.stringify(problems)}`);
        if (!cmd.accept) return;
        assert.equal(render(cmd.template, { v: 'other' }).rendered.cmd, rendered.cmd, 'value in the source');
        assert.equal(sh(rendered.cmd, rendered.env), cmd.out(value), cmd.template);
        ran++;
        assert.equal(existsSync(MARK), false, `${cmd.template} ran the value`);
        assert.deepEqual(readdirSync(dir), [], `${cmd.template} created a file`);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 250), seed: Number(process.env.PROP_SEED ?? 20261213) },
    );
    // Both outcomes are exercised: a scanner that refused everything would fail here.
    assert.ok(ran > 50, `only ${ran} commands were accepted and run`);
  });
});

test('a value too long for one environment variable is refused at load', () => {
  const { problems } = render('echo ${v}', { v: 'x'.repeat(200_000) });
  assert.match(problems[0]!.message, /more than one environment variable may hold/);
  assert.deepEqual(render('echo ${v}', { v: 'x'.repeat(100_000) }).problems, []);
});
