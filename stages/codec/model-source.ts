// Where a model file comes from: an http(s) URL, `hf:OWNER/REPO/PATH[@REV]` (a file of a model
// repository on the Hugging Face Hub) or a local path (declared as a dep, so its content is in the
// key). Pure and small: the codec stage's schema imports it eagerly.

export type ModelSource = { kind: 'http'; url: string } | { kind: 'local'; path: string };

/** Parses a model reference; hf: paths become resolve URLs on the Hub. */
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
    const encoded = [owner, repo].join('/');
    return {
      kind: 'http',
      url: `hf:${encoded}/resolve/${encodeURIComponent(revision)}/${file.map(encodeURIComponent).join('/')}`,
    };
  }
  if (/^file:\/\//i.test(text)) return { kind: 'local', path: new URL(text).pathname };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text))
    return { error: `unsupported scheme in "${text}"; use http(s)://, hf: or a path` };
  return { kind: 'local', path: text };
}
