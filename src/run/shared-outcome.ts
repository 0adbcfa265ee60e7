// A sweep computes a stage shared by several variants once: the others take its outcome as theirs.
import type { StageOutcome } from './events.ts';

/** Another variant's outcome for the same key, as this variant's. */
export function asShared(theirs: StageOutcome, name: string, variant: string): StageOutcome {
  const { key } = theirs;
  const reason = `shared with variant ${variant}`;
  if (theirs.status === 'ran' || theirs.status === 'cached')
    return { name, status: 'cached', key, seconds: 0, tree: theirs.tree!, reason };
  if (theirs.status === 'failed')
    return { name, status: 'failed', key, seconds: 0, error: theirs.error, reason, shared: true };
  return { name, status: 'skipped', key, seconds: 0, reason: `${reason}: ${theirs.reason ?? theirs.status}` };
}
