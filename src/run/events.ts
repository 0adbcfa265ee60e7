// Typed events from the runner to the reporters (plain lines, listr2, JSON). The runner never prints.
import type { StageProgress } from '../stage-api/index.ts';

export type StageStatus = 'ran' | 'cached' | 'failed' | 'skipped' | 'would-run';

export type RunEvent =
  /** key: unset for a Slurm job submitted before its key is known (the job computes it). */
  | { type: 'stage-start'; stage: string; key?: string }
  | { type: 'stage-wait'; stage: string; key?: string; holder: string }
  | { type: 'stage-progress'; stage: string; progress: StageProgress }
  | { type: 'stage-log'; stage: string; line: string }
  | { type: 'stage-warning'; stage: string; message: string }
  | { type: 'stage-end'; stage: string; outcome: StageOutcome };

/** How one stage ended in this invocation. */
export interface StageOutcome {
  name: string;
  status: StageStatus;
  key?: string;
  seconds: number;
  /** Output tree digest (ran or cached). */
  tree?: string;
  /** Why a stage was skipped or would run. */
  reason?: string;
  error?: Error;
  /** Failed because another variant of the sweep failed computing the same key (reported there). */
  shared?: boolean;
  /** Path of the full log (ran or failed). */
  logPath?: string;
  logTail?: string;
}

export type Emit = (event: RunEvent) => void;
