// The reporter shows the spec files an error names relative to the folder it is given, and only
// those inside it; other paths in a message stay as the message writes them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PipeError } from '../../src/errors.ts';
import { displayPath, displayPaths, errorJson, formatError } from '../../src/report/format-error.ts';

test('paths inside cwd read relative; the folder itself, look-alike siblings and others stay absolute', () => {
  assert.equal(displayPath('/p/proj/experiments/x.yaml', '/p/proj'), 'experiments/x.yaml');
  assert.equal(displayPath('/p/proj', '/p/proj'), '/p/proj');
  assert.equal(displayPath('/p/other/x.yaml', '/p/proj'), '/p/other/x.yaml');
  assert.equal(
    displayPaths(
      '/p/proj/a.yaml extends /p/proj/a.yaml.d/b.yaml',
      ['/p/proj/a.yaml', '/p/proj/a.yaml.d/b.yaml'],
      '/p/proj',
    ),
    'a.yaml extends a.yaml.d/b.yaml',
  );
});

test('the text and the JSON of one error, from two folders; a path it does not list stays absolute', () => {
  const error = new PipeError('cannot read spec file /p/proj/nope.yaml (cache /p/proj/cache)', {
    code: 'E_SPEC_NOT_FOUND',
    loc: { file: '/p/proj/experiments/x.yaml', line: 2, col: 10 },
    hint: 'check /p/proj/nope.yaml',
    paths: ['/p/proj/nope.yaml'],
  });
  assert.equal(
    formatError(error, '/p/proj'),
    'experiments/x.yaml:2:10 error E_SPEC_NOT_FOUND\n  cannot read spec file nope.yaml (cache /p/proj/cache)\n  hint: check nope.yaml',
  );
  assert.match(
    formatError(error, '/p/proj/experiments'),
    /^x\.yaml:2:10 .*\n {2}cannot read spec file \/p\/proj\/nope\.yaml /,
  );
  assert.deepEqual(JSON.parse(errorJson(error, '/p/proj')).errors[0], {
    code: 'E_SPEC_NOT_FOUND',
    message: 'cannot read spec file nope.yaml (cache /p/proj/cache)',
    hint: 'check nope.yaml',
    file: 'experiments/x.yaml',
    line: 2,
    col: 10,
    stage: null,
  });
});
