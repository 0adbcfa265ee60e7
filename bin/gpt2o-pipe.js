#!/usr/bin/env node
// The published entry point: the bundled CLI lives in dist/ (built by `npm ci` through `prepare`).
import('../dist/cli.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli.js')) {
    console.error('gpt2o-pipe: dist/cli.js is missing; run `npm run build` (npm ci does it for you).');
    process.exit(2);
  }
  throw error;
});
