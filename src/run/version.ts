// The tool's version, recorded in every run record. Bundled in at build time by esbuild's define;
// falls back to "dev" when run from source (tests).
declare const __GPT2O_VERSION__: string | undefined;
export const TOOL_VERSION: string = typeof __GPT2O_VERSION__ === 'string' ? __GPT2O_VERSION__ : 'dev';
