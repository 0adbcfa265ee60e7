// Messages between the resample stage and its worker threads.
import type { ConvertJob, ConvertResult } from './convert.ts';

export interface WorkerRequest {
  id: number;
  job: ConvertJob;
}

export type WorkerReply =
  | { id: number; progress: number }
  | { id: number; result: ConvertResult }
  | { id: number; error: { decode: boolean; message: string } };
