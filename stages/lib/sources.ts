// Parses a `source:` string (a URL, a local path or `hf:OWNER/NAME[@REV]`) into a typed form, once,
// so the schema can reject a bad source at its place in the YAML and run() never sees raw text.
// Pure and dependency-free: the download stage's schema imports it eagerly.
import { fileURLToPath } from 'node:url';

/** Where a download stage reads from. */
export type Source =
  | { kind: 'http'; url: string }
  | { kind: 'local'; path: string }
  | { kind: 'hf'; owner: string; name: string; revision: string };

// Hub repo ids: letters, digits, '-', '_', '.'; no leading '.' or '-' (huggingface_hub's own check).
const HF_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HF_EXAMPLE = 'e.g. hf:openslr/librispeech_asr or hf:openslr/librispeech_asr@main';

/** The typed source, or an error sentence that says what a valid one looks like. */
export function parseSource(text: string): Source | { error: string } {
  if (text.trim() === '') return { error: 'source is empty; give a URL, a local path or hf:OWNER/NAME' };
  if (/^https?:\/\//i.test(text)) {
    if (!URL.canParse(text)) return { error: `"${text}" is not a valid URL` };
    return { kind: 'http', url: new URL(text).href };
  }
  if (/^file:/i.test(text)) {
    try {
      return { kind: 'local', path: fileURLToPath(text) };
    } catch (error) {
      return { error: `"${text}" is not a usable file:// URL (${(error as Error).message})` };
    }
  }
  if (/^hf:/i.test(text)) return parseHf(text);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
  if (scheme)
    return {
      error: `unsupported scheme "${scheme}://" in "${text}"; use http(s)://, file://, or hf:OWNER/NAME`,
    };
  // A relative path is relative to the project root (the folder of pipeline.yaml): the stage declares
  // it through deps(), and the engine resolves it, hashes its content and hands back the absolute path.
  return { kind: 'local', path: text };
}

function parseHf(text: string): Source | { error: string } {
  const body = text.slice('hf:'.length);
  if (body.startsWith('//'))
    return { error: `"${text}": write a Hub dataset as hf:OWNER/NAME (no "//"), ${HF_EXAMPLE}` };
  const at = body.indexOf('@');
  const repo = at === -1 ? body : body.slice(0, at);
  const revision = at === -1 ? 'main' : body.slice(at + 1);
  const [owner, name, ...rest] = repo.split('/');
  if (!owner || !name || rest.length > 0)
    return { error: `"${text}" needs a dataset as OWNER/NAME after "hf:", ${HF_EXAMPLE}` };
  for (const part of [owner, name])
    if (!HF_PART.test(part) || part.includes('..') || part.includes('--'))
      return { error: `"${part}" in "${text}" is not a valid Hub name (letters, digits, "-", "_", ".")` };
  if (revision === '' || /\s/.test(revision))
    return { error: `"${text}" has an empty or blank revision after "@", ${HF_EXAMPLE}` };
  return { kind: 'hf', owner, name, revision };
}
