// What an output tree is: its files by digest, its empty folders and its links (the manifest, an
// object of its own whose digest names the tree), and the manifest's exact bytes.
import type { TreeLink } from './tree-links.ts';

/** A file of an output tree. */
export interface TreeEntry {
  path: string;
  digest: string;
  size: number;
  exec?: true;
}

/**
 * An output tree: the files a stage produced, by relative POSIX path, plus empty folders and the
 * symbolic links that stay inside it (absent when there are none, so such trees keep their digest).
 */
export interface TreeManifest {
  format: 1;
  files: TreeEntry[];
  dirs: string[];
  links?: TreeLink[];
}

/**
 * canonicalJson of a manifest, written out entry by entry in its keys' sorted order: canonicalJson
 * sorts the keys of each of a big tree's 100,000 entries. Byte for byte the same text (a unit test
 * compares them), so trees keep their digests.
 */
export function manifestJson(manifest: TreeManifest): string {
  const text = (value: string) => JSON.stringify(value);
  const files = manifest.files.map(
    (f) =>
      `{"digest":${text(f.digest)},${f.exec ? '"exec":true,' : ''}"path":${text(f.path)},"size":${JSON.stringify(f.size)}}`,
  );
  const links = manifest.links?.map((l) => `{"path":${text(l.path)},"target":${text(l.target)}}`);
  return `{"dirs":[${manifest.dirs.map(text).join(',')}],"files":[${files.join(',')}],"format":${manifest.format}${
    links ? `,"links":[${links.join(',')}]` : ''
  }}`;
}
