// hash-wasm's single-algorithm build (20 KB instead of the 270 KB all-algorithms bundle, which
// every start-up would otherwise parse). Same API as the package's createXXHash128.
declare module 'hash-wasm/dist/xxhash128.umd.min.js' {
  const xxhash128: Pick<typeof import('hash-wasm'), 'createXXHash128' | 'xxhash128'>;
  export default xxhash128;
}
