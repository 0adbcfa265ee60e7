// Where a model file comes from: an http(s) URL, `hf:OWNER/REPO/PATH[@REV]` (a file of a model
// repository on the Hugging Face Hub) or a local path (declared as a dep, so its content is in the
// key). Pure and small: the schemas of codec (its models) and train (init_from) import it eagerly.

import { fileURLToPath } from 'node:url';

export type ModelSource =
  | { kind: 'http'; url: string }
  /** A path under the Hub's base URL: OWNER/REPO/resolve/REV/FILE. */
  | { kind: 'hub'; path: string }
  | { kind: 'local'; path: string };

/** Parses a model reference. */
export function parseModelSource(text: string): ModelSource | { error: string } {
  if (/^https?:\/\//i.test(text))
    return URL.canParse(text) ? { kind: 'http', url: text } : { error: `"${text}" is not a valid URL` };
  if (/^hf:/i.test(text)) {
    const body = text.slice(3);
    const at = body.lastIndexOf('@');
    const path = at > 0 ? body.slice(0, at) : body;
    const revision = at > 0 ? body.slice(at + 1) : 'main';
    const [owner, repo, ...file] = path.split('/');
    if (!owner || !repo || file.length === 0)
      return { error: `"${text}" must be hf:OWNER/REPO/PATH/TO/FILE[@REVISION]` };
    return {
      kind: 'hub',
      path: `${owner}/${repo}/resolve/${encodeURIComponent(revision)}/${file.map(encodeURIComponent).join('/')}`,
    };
  }
  if (/^file:\/\//i.test(text)) {
    try {
      return { kind: 'local', path: fileURLToPath(text) };
    } catch (error) {
      return { error: `"${text}" is not a usable file:// URL (${(error as Error).message})` };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text))
    return { error: `unsupported scheme in "${text}"; use http(s)://, hf: or a path` };
  return { kind: 'local', path: text };
}
