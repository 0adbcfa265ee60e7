// Injected into the CommonJS bundle by scripts/build.mjs: `import.meta.url` there is replaced by
// this value, the bundle's own file URL (modules find workers and .wasm files beside it).
export const __gpt2oImportMetaUrl = require('node:url').pathToFileURL(__filename).href;
