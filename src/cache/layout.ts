// Where things live inside a cache folder. One place, so the cache protocol can be read in one file.
//
//   cache/
//     FORMAT                  the cache format (CACHE_FORMAT); its presence means "this folder is ours"
//     CACHEDIR.TAG            tells backup tools (tar --exclude-caches, borg, restic) to skip the folder
//     objects/ab/<digest>     file contents by XXH128 digest, read-only (tree manifests are objects too)
//     actions/ab/<key>.json   run records: stage key → inputs, output tree digest, metrics, log tail
//     trees/<digest>/         an output tree laid out as files (hard links into objects/), for reading
//     logs/<key>.log          full stage logs
//     logs/slurm-<stage>-<job>.log  what a Slurm job printed (sbatch --output)
//     refs/<id>.json          each experiment's latest run (stage → key): what gc keeps, what status diffs
//     refs/sweeps/<id>.json   each sweep's variants (name → param values), for `status`/`compare SWEEP`
//     locks/<key>.lock/       held while a stage key is being computed
//     tmp/                    staging: everything is written here first, then renamed into place
//     resume/<key>/           what an interrupted stage kept to continue from (train's checkpoints);
//                             removed once that key's result is committed
//     quarantine/<digest>-<time>  corrupt objects moved aside by `verify --repair`, kept for inspection
//     locks/active/<pid>@<host>   one per live `run` (see active-runs.ts)
//     locks/maintenance.lock/     held by `gc` and `verify --repair` (see maintenance.ts)
//     locks/<key>.slurm/          a stage key claimed by a Slurm submission (see run/slurm/claim.ts)
//
// Names below are the only ones the store creates. gc and verify --repair remove only entries whose
// names match them (NAMES): whatever else a user put in the folder is never touched.
import { join } from 'node:path';

/** Bump when the layout or the key recipe changes: it salts every key, disowning older entries. */
export const CACHE_FORMAT = 'gpt2o-cache-v1';

/** A content digest or stage key (XXH128, hex). */
export const DIGEST = /^[0-9a-f]{32}$/;

/** The names the store creates, per folder; anything else is not ours and is left alone. */
export const NAMES = {
  fanout: /^[0-9a-f]{2}$/,
  object: DIGEST,
  record: /^[0-9a-f]{32}\.json$/,
  tree: DIGEST,
  log: /^(?:[0-9a-f]{32}|slurm-[^/]+-\d+)\.log$/,
  ref: /^[0-9a-f]{20}\.json$/,
  sweep: /^[0-9a-f]{20}\.json$/,
  lock: /^[0-9a-f]{32}\.lock$/,
  resume: DIGEST,
  /** tmp/ entries: "<pid>@<host>~…" (see liveness.ts), or "<pid>-…" from before hosts were added. */
  tmp: /^\d+(?:@[A-Za-z0-9._-]+~|-)./,
} as const;

export class CacheLayout {
  // NOTE: the paths asked for per stage and per file are concatenated, not joined: a fully cached
  // run asks for each stage's record, tree and log, and for each file of a tree (100,000 times for
  // a big output); join normalises every time (a fifth of what a 5,000-stage no-op allocated), and
  // a checked digest holds nothing it would change.
  private readonly objects: string;
  private readonly actions: string;
  private readonly trees: string;
  private readonly logs: string;
  private readonly locks: string;

  constructor(readonly root: string) {
    this.objects = join(root, 'objects');
    this.actions = join(root, 'actions');
    this.trees = join(root, 'trees');
    this.logs = join(root, 'logs');
    this.locks = join(root, 'locks');
  }

  object(digest: string): string {
    checkDigest(digest);
    return `${this.objects}/${digest.slice(0, 2)}/${digest}`;
  }
  record(key: string): string {
    checkDigest(key);
    return `${this.actions}/${key.slice(0, 2)}/${key}.json`;
  }
  tree(digest: string): string {
    checkDigest(digest);
    return `${this.trees}/${digest}`;
  }
  log(key: string): string {
    checkDigest(key);
    return `${this.logs}/${key}.log`;
  }
  ref(id: string): string {
    if (!/^[0-9a-f]{20}$/.test(id)) throw new Error(`not a ref id: ${JSON.stringify(id)}`);
    return join(this.root, 'refs', `${id}.json`);
  }
  /** A sweep's record, by sweeps.ts's id (a hash of the project and the sweep's name). */
  sweep(id: string): string {
    if (!/^[0-9a-f]{20}$/.test(id)) throw new Error(`not a sweep id: ${JSON.stringify(id)}`);
    return join(this.root, 'refs', 'sweeps', `${id}.json`);
  }
  get sweeps(): string {
    return join(this.root, 'refs', 'sweeps');
  }
  lock(key: string): string {
    checkDigest(key);
    return `${this.locks}/${key}.lock`;
  }
  resume(key: string): string {
    checkDigest(key);
    return join(this.root, 'resume', key);
  }
  quarantine(name: string, time: Date): string {
    return join(this.root, 'quarantine', `${name}-${time.toISOString().replace(/[:.]/g, '-')}`);
  }
  get tmp(): string {
    return join(this.root, 'tmp');
  }
  get statCache(): string {
    return join(this.root, 'stat-cache.txt');
  }
  get format(): string {
    return join(this.root, 'FORMAT');
  }
  /** Where FORMAT is written before it is renamed into place. */
  formatTmp(pid: number): string {
    return join(this.root, `FORMAT.tmp-${pid}`);
  }
  get cachedirTag(): string {
    return join(this.root, 'CACHEDIR.TAG');
  }
  /** One marker per live `run`, named by its owner tag (active-runs.ts). */
  get activeRuns(): string {
    return join(this.root, 'locks', 'active');
  }
  get maintenanceLock(): string {
    return join(this.root, 'locks', 'maintenance.lock');
  }
  /** The claim a Slurm submission holds on a stage key while its job is queued or running. */
  slurmClaim(key: string): string {
    checkDigest(key);
    return join(this.root, 'locks', `${key}.slurm`);
  }
  /** What a stage's Slurm job prints: `jobId` is "%j" for sbatch --output, the job id once known. */
  slurmLog(stage: string, jobId: string): string {
    return join(this.root, 'logs', `slurm-${stage}-${jobId}.log`);
  }
  dir(
    name: 'objects' | 'actions' | 'trees' | 'logs' | 'refs' | 'locks' | 'tmp' | 'resume' | 'quarantine',
  ): string {
    return join(this.root, name);
  }
}

/**
 * Every path built from a digest or key goes through here: a name read from a damaged or hostile
 * cache is validated before use (validate.ts), and this guard makes a missed check an internal
 * error instead of a path outside the cache.
 */
function checkDigest(name: string): void {
  if (!DIGEST.test(name)) throw new Error(`not a digest or stage key: ${JSON.stringify(name)}`);
}
