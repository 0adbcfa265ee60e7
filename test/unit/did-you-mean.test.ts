import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest, editDistance, suggestionHint } from '../../src/util/did-you-mean.ts';

test('edit distance and suggestions for typos', () => {
  assert.equal(editDistance('n_embed', 'n_embd'), 1);
  assert.equal(closest('n_embed', ['n_layer', 'n_head', 'n_embd']), 'n_embd');
  assert.equal(closest('completely_different', ['n_layer', 'n_head']), undefined);
  assert.equal(
    suggestionHint('outz', ['cmd', 'deps', 'outs'], 'keys'),
    'did you mean "outs"? valid keys: cmd, deps, outs',
  );
});
