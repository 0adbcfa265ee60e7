// Where things live inside a cache folder. One place, so the cache protocol can be read in one file.
//
//   cache/
//     objects/ab/<digest>     file contents by XXH128 digest, read-only (tree manifests are objects too)
//     actions/ab/<key>.json   run records: stage key → inputs, output tree digest, metrics, log tail
//     trees/<digest>/         an output tree laid out as files (hard links into objects/), for reading
//     logs/<key>.log          full stage logs
//     refs/<id>.json          each experiment's latest run (stage → key): what gc keeps, what status diffs
//     locks/<key>.lock/       held while a stage key is being computed
//     tmp/                    staging: everything is written here first, then renamed into place
//     resume/<key>/           what an interrupted stage kept to continue from (train's checkpoints);
//                             removed once that key's result is committed
//     quarantine/<digest>-<time>  corrupt objects moved aside by `verify --repair`, kept for inspection
import { join } from 'node:path';

/** Bump when the layout or the key recipe changes: it salts every key, disowning older entries. */
export const CACHE_FORMAT = 'gpt2o-cache-v1';

export class CacheLayout {
  constructor(readonly root: string) {}

  object(digest: string): string {
    return join(this.root, 'objects', digest.slice(0, 2), digest);
  }
  record(key: string): string {
    return join(this.root, 'actions', key.slice(0, 2), `${key}.json`);
  }
  tree(digest: string): string {
    return join(this.root, 'trees', digest);
  }
  log(key: string): string {
    return join(this.root, 'logs', `${key}.log`);
  }
  ref(id: string): string {
    return join(this.root, 'refs', `${id}.json`);
  }
  lock(key: string): string {
    return join(this.root, 'locks', `${key}.lock`);
  }
  resume(key: string): string {
    return join(this.root, 'resume', key);
  }
  quarantine(name: string, time: Date): string {
    return join(this.root, 'quarantine', `${name}-${time.toISOString().replace(/[:.]/g, '-')}`);
  }
  get tmp(): string {
    return join(this.root, 'tmp');
  }
  get statCache(): string {
    return join(this.root, 'stat-cache.json');
  }
  dir(
    name: 'objects' | 'actions' | 'trees' | 'logs' | 'refs' | 'locks' | 'tmp' | 'resume' | 'quarantine',
  ): string {
    return join(this.root, name);
  }
}
