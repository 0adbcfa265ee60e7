// Loads the `yaml` library on demand. It is CommonJS: Node's ESM interop and esbuild's lazy chunk
// both expose module.exports as `default` (esbuild only that), so read the API from there.
export type YamlModule = typeof import('yaml');

export async function loadYaml(): Promise<YamlModule> {
  const module = (await import('yaml')) as YamlModule & { default?: YamlModule };
  return module.default ?? module;
}
