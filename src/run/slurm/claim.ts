// One job per stage key, also across runs: the submission-claim protocol, and reading the result a
// finished job committed to the shared cache.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Damage } from '../../cache/damage.ts';
import { ageMsAsync, unownedIsAlive } from '../../cache/liveness.ts';
import type { CacheStore } from '../../cache/store.ts';
import { EXIT_INTERRUPTED, PipeError } from '../../errors.ts';
import { jobState, TERMINAL } from './scontrol.ts';

/**
 * Claims the submission of `key`: `locks/<key>.slurm/` is created atomically (mkdir) by the run
 * that submits, which writes the job id into it and removes it when the job has ended. A run that
 * finds it follows that job. A marker whose job has ended (its run died) is stale: removed, and the
 * result is either in the cache by now or the claim is made again.
 */
export async function claimSubmission(
  store: CacheStore,
  key: string,
  signal: AbortSignal,
): Promise<{
  marker?: string;
  job?: { jobId: string; logPath: string };
  cached?: { output: { tree: string } };
}> {
  const marker = store.layout.slurmClaim(key);
  await mkdir(dirname(marker), { recursive: true });
  for (;;) {
    try {
      await mkdir(marker);
      return { marker };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (signal.aborted)
      throw new PipeError('interrupted', { code: 'E_INTERRUPTED', exitCode: EXIT_INTERRUPTED });
    const job = await readFile(join(marker, 'job.json'), 'utf8')
      .then((text) => JSON.parse(text) as { jobId: string; logPath: string })
      .catch(() => undefined);
    if (job) {
      const state = await jobState(job.jobId);
      if (!state || !TERMINAL(state.state)) return { job };
    } else {
      // Being submitted right now, or its run died between mkdir and writing job.json.
      const age = (await ageMsAsync(marker)) ?? 0;
      if (unownedIsAlive(age)) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
    }
    await rm(marker, { recursive: true, force: true });
    const record = await store.serve(key);
    if (record) return { cached: record };
  }
}

/** How long the head keeps looking for a finished job's record (NFS caches directory lookups). */
const RECORD_GRACE_MS = 10_000;

/** The record the job committed; a shared file system may show it to this machine a little later. */
export async function committedRecord(store: CacheStore, key: string, onDamage: (damage: Damage) => void) {
  const deadline = Date.now() + RECORD_GRACE_MS;
  for (;;) {
    // Served first (its output checked), then read whole: the head reports the job's log tail.
    const record = (await store.serve(key, onDamage)) && store.readRecord(key);
    if (record || Date.now() > deadline) return record;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
