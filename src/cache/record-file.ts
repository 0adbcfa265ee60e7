// Reading a run record file back: the whole record, validated for its key, and the part of it the
// memo of validated files keeps for serving (CacheStore.serve).
import { readFileSync } from 'node:fs';
import { DIGEST } from './layout.ts';
import type { RunRecord, ServedRecord } from './record.ts';
import { recordProblem } from './validate.ts';

export function isServedRecord(value: unknown, key: string): value is ServedRecord {
  const r = value as Partial<ServedRecord> | undefined;
  return (
    typeof r === 'object' &&
    r !== null &&
    r.key === key &&
    typeof r.output?.tree === 'string' &&
    DIGEST.test(r.output.tree) &&
    Array.isArray(r.warnings)
  );
}

/** The record in `path` when it is valid for `key`, or why not (nothing when there is none). */
export function readRecordFile(path: string, key: string): { record?: RunRecord; problem?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? {} : { problem: `cannot be read (${code})` };
  }
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return { problem: 'is not valid JSON' };
  }
  const problem = recordProblem(record, key);
  return problem ? { problem } : { record: record as RunRecord };
}
