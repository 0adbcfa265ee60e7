// Where this user's own memos live: the parse cache, the memo of validated files and the no-op
// journals. Never in the (possibly shared) cache they speed up: each vouches only for what this
// user's own runs checked. One rule: `$<variable>` names the folder, or turns the memo off with
// `off`; else `$XDG_CACHE_HOME/gpt2o-pipe/<name>` (`~/.cache` when XDG_CACHE_HOME is unset).
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The memo's folder, or undefined when `$<variable>` is `off`. */
export function userCacheDir(env: NodeJS.ProcessEnv, variable: string, name: string): string | undefined {
  const set = env[variable];
  if (set === 'off') return undefined;
  if (set) return set;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gpt2o-pipe', name);
}
