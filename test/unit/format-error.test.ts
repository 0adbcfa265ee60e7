// The reporter shows paths relative to the folder it is given, and only paths inside it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PipeError } from '../../src/errors.ts';
import { displayPath, displayPaths, errorJson, formatError } from '../../src/report/format-error.ts';

test('paths inside cwd read relative; the folder itself, look-alike siblings and others stay absolute', () => {
  assert.equal(displayPath('/p/proj/experiments/x.yaml', '/p/proj'), 'experiments/x.yaml');
  assert.equal(displayPath('/p/proj', '/p/proj'), '/p/proj');
  assert.equal(displayPath('/p/other/x.yaml', '/p/proj'), '/p/other/x.yaml');
  assert.equal(
    displayPaths('/p/proj/a.yaml extends /p/project/b.yaml in /p/proj', '/p/proj'),
    'a.yaml extends /p/project/b.yaml in /p/proj',
  );
  assert.equal(displayPaths('/p/proj/a.yaml', '/p/proj/'), 'a.yaml');
  assert.equal(displayPaths('/etc/x', '/'), '/etc/x', 'from /, absolute paths stay as they are');
});

test('the text and the JSON of one error, from two folders', () => {
  const error = new PipeError('cannot read spec file /p/proj/nope.yaml', {
    code: 'E_SPEC_NOT_FOUND',
    loc: { file: '/p/proj/experiments/x.yaml', line: 2, col: 10 },
    hint: 'check /p/proj/experiments/x.yaml',
  });
  assert.equal(
    formatError(error, '/p/proj'),
    'experiments/x.yaml:2:10 error E_SPEC_NOT_FOUND\n  cannot read spec file nope.yaml\n  hint: check experiments/x.yaml',
  );
  assert.match(
    formatError(error, '/p/proj/experiments'),
    /^x\.yaml:2:10 .*\n {2}cannot read spec file \/p\/proj\/nope\.yaml\n/,
  );
  assert.deepEqual(JSON.parse(errorJson(error, '/p/proj')).errors[0], {
    code: 'E_SPEC_NOT_FOUND',
    message: 'cannot read spec file nope.yaml',
    hint: 'check experiments/x.yaml',
    file: 'experiments/x.yaml',
    line: 2,
    col: 10,
    stage: null,
  });
});
