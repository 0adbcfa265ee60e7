// Templates and shell quoting. The property test feeds arbitrary strings through a real `sh`
// and checks they come out byte-identical, in each quote context a command can put them in.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseTemplate, renderCommand, shellQuote, TemplateSyntaxError } from '../../src/spec/template.ts';

function shellEcho(command: string): string {
  const r = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

// Strings the shell can carry in an argument: no NUL; otherwise anything, quotes and $() included.
const shellString = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0'));

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

  test('safe words stay readable, everything else is single-quoted', () => {
    assert.equal(shellQuote('train.bin'), 'train.bin');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });

  test('any value survives sh unchanged outside quotes, in "…" and in \'…\'', () => {
    fc.assert(
      fc.property(shellString, (value) => {
        const lookup = () => value;
        for (const template of ["printf '%s' ${v}", 'printf \'%s\' "${v}"', "printf '%s' '${v}'"]) {
          assert.equal(shellEcho(renderCommand(parseTemplate(template), lookup)), value, template);
        }
      }),
      { numRuns: 60 },
    );
  });

  test('lists become separate words; numbers and booleans their plain text', () => {
    const lookup = (ref: string) => ({ files: ['a b', 'c'], n: 1024, yes: true })[ref];
    assert.equal(
      shellEcho(renderCommand(parseTemplate("printf '[%s]' ${files} ${n} ${yes}"), lookup)),
      '[a b][c][1024][true]',
    );
  });
});
