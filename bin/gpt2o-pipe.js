#!/usr/bin/env node
// The published entry point. It runs dist/cli.cjs, the bundled CLI (built by `npm ci` through
// `prepare`), through V8's code cache in dist/cli.cjs.cache: the bundle's functions come back
// compiled instead of being parsed and compiled at every start (scripts/build.mjs has the figures).
//
// The cache is used only when its first line names this very bundle (the build stamps both with
// the bundle's digest) and V8 accepts it (same Node, same V8 flags). Otherwise the bundle is
// compiled as usual: slower to start by some 20 ms, never wrong. A Node upgrade makes V8 refuse it
// until the next `npm run build`.
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const Module = require('node:module');
const { Script } = require('node:vm');

const bundle = join(__dirname, '..', 'dist', 'cli.cjs');
const cacheFile = `${bundle}.cache`;

const { script, stamp } = compile();

/**
 * The bundle compiled with its code cache when that is usable. Nothing here outlives the call but
 * the script (which holds the source V8 needs) and the stamp, copied out of the source.
 */
function compile() {
  let source;
  try {
    source = readFileSync(bundle, 'utf8');
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
    process.stderr.write(
      'gpt2o-pipe: dist/cli.cjs is missing; run `npm run build` (npm ci does it for you).\n',
    );
    process.exit(2);
  }
  const stamp = Buffer.from(source.slice(0, source.indexOf('\n') + 1));
  const cachedData = readCache(stamp);
  const script = new Script(Module.wrap(source), { filename: bundle, cachedData: cachedData.data });
  // GPT2O_CODE_CACHE_REPORT=1 says on stderr whether this start used the cache, and why not.
  if (process.env.GPT2O_CODE_CACHE_REPORT) {
    const state =
      cachedData.data === undefined ? cachedData.why : script.cachedDataRejected ? 'refused by V8' : 'used';
    process.stderr.write(`gpt2o-pipe: code cache ${state}\n`);
  }
  return { script, stamp };
}

const moduleObject = { exports: {} };
script
  .runInThisContext()
  .call(
    moduleObject.exports,
    moduleObject.exports,
    Module.createRequire(bundle),
    moduleObject,
    bundle,
    join(__dirname, '..', 'dist'),
  );

// The build writes the cache from a warm run (scripts/build.mjs): what start-up and a fully cached
// run compiled by then is in it. Written aside and renamed, so a build stopped halfway leaves no
// half file. (V8 refuses a cache of the wrong length, but checksums the rest only under a V8 flag,
// and setting any V8 flag at run time costs more start-up than the cache saves: Node's own modules
// then compile without their code cache. A cache damaged later on disk is as bad as a damaged
// bundle; `npm run build` makes both again.)
if (process.env.GPT2O_WRITE_CODE_CACHE) {
  process.on('exit', () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([stamp, script.createCachedData()]));
    renameSync(tmp, cacheFile);
  });
}

/** The cache's V8 data when it was made from this bundle; otherwise why there is none. */
function readCache(stamp) {
  let data;
  try {
    data = readFileSync(cacheFile);
  } catch {
    return { why: 'absent' };
  }
  if (!data.subarray(0, stamp.length).equals(stamp)) return { why: 'made for another build' };
  return { data: data.subarray(stamp.length) };
}
