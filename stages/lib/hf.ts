// The Hugging Face Hub, just enough to fetch a dataset's files: list them through the API
// (`/api/datasets/OWNER/NAME[/revision/REV]`, `siblings[].rfilename`) and build each file's
// `/datasets/OWNER/NAME/resolve/REV/PATH` URL. Honours the Hub's own HF_ENDPOINT and HF_TOKEN.
import { StageError } from '../../src/stage-api/index.ts';
import { fetchJson, type RequestOptions } from './http.ts';

/** A dataset at a revision, as parsed from `hf:OWNER/NAME[@REV]`. */
export interface HubDataset {
  owner: string;
  name: string;
  revision: string;
}

/** One file of the dataset: its path in the repo, and its size when the API says it. */
export interface HubFile {
  path: string;
  size?: number;
}

/** The Hub's base URL: $HF_ENDPOINT (mirrors, tests), else https://huggingface.co. */
export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** Request headers for the Hub: a bearer token when $HF_TOKEN is set (gated or private datasets). */
export function hubHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env.HF_TOKEN ? { authorization: `Bearer ${env.HF_TOKEN}` } : {};
}

/** The API URL that lists the dataset's files (at a revision unless it is the default `main`). */
export function datasetApiUrl(endpoint: string, dataset: HubDataset): string {
  const base = `${endpoint}/api/datasets/${repoPath(dataset)}`;
  return dataset.revision === 'main' ? base : `${base}/revision/${encodeURIComponent(dataset.revision)}`;
}

/** The download URL of one file of the dataset. */
export function resolveUrl(endpoint: string, dataset: HubDataset, path: string): string {
  const file = path.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/datasets/${repoPath(dataset)}/resolve/${encodeURIComponent(dataset.revision)}/${file}`;
}

/** Lists every file of the dataset through the Hub API. */
export async function listDatasetFiles(
  endpoint: string,
  dataset: HubDataset,
  options: RequestOptions,
): Promise<HubFile[]> {
  const url = datasetApiUrl(endpoint, dataset);
  const info = (await fetchJson(url, options)) as { siblings?: unknown };
  if (!Array.isArray(info?.siblings))
    throw new StageError(`the Hub API at ${url} answered without a siblings list`, {
      hint: 'check HF_ENDPOINT: it must point at a Hugging Face Hub (or a mirror of its API)',
    });
  return info.siblings.flatMap((s: { rfilename?: unknown; size?: unknown }) =>
    typeof s?.rfilename === 'string'
      ? [{ path: s.rfilename, ...(typeof s.size === 'number' ? { size: s.size } : {}) }]
      : [],
  );
}

function repoPath(dataset: HubDataset): string {
  return `${encodeURIComponent(dataset.owner)}/${encodeURIComponent(dataset.name)}`;
}
