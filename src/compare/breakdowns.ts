// A loss split by some part of the data, as a stage wrote it into its `metrics.json`: every field
// named `by_<part>` that is a list or a map of entries with a numeric `loss`. evaluate writes
// `by_level` ({"0": {loss, tokens}, …}) and `by_position` ([{position, what, loss, tokens}, …]);
// the report draws each as grouped bars. Generic: compare knows this shape, never the stage.
import { readFileSync, statSync } from 'node:fs';

export interface BreakdownBar {
  /** "level 0", "position 3". */
  label: string;
  /** The entry's `what`, when it has one ("level 2 code"). */
  detail?: string;
  /** null where the entry has no finite loss (no tokens of that part). */
  value: number | null;
}

export interface Breakdown {
  stage: string;
  /** The metrics.json field, e.g. "by_level". */
  name: string;
  bars: BreakdownBar[];
}

/** Larger metrics files are not read: this is a summary, not a data dump. */
const MAX_METRICS_BYTES = 4 << 20;
/** A breakdown with more parts than this is not drawn as bars (nor kept). */
const MAX_BARS = 64;

/** The `by_*` breakdowns of `path` (a stage's metrics.json); none when absent or not JSON. */
export function readBreakdowns(stage: string, path: string): Breakdown[] {
  const info = statSync(path, { throwIfNoEntry: false });
  if (!info?.isFile() || info.size > MAX_METRICS_BYTES) return [];
  let metrics: unknown;
  try {
    metrics = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return []; // the stage's file, the stage's business: compare just has nothing to draw
  }
  if (!isRecord(metrics)) return [];
  const out: Breakdown[] = [];
  for (const [name, field] of Object.entries(metrics)) {
    const part = /^by_([a-z0-9_]+)$/.exec(name)?.[1];
    if (!part) continue;
    const bars = barsOf(part, field);
    if (bars && bars.length > 0 && bars.length <= MAX_BARS) out.push({ stage, name, bars });
  }
  return out;
}

/** The bars of one field, or undefined when it is not a list or map of `{loss}` entries. */
function barsOf(part: string, field: unknown): BreakdownBar[] | undefined {
  const thing = part.replaceAll('_', ' ');
  const entries: [string, unknown][] = Array.isArray(field)
    ? field.map((entry, i) => {
        // A list entry names itself by the field's part (`position: 3`) where it can.
        const own = isRecord(entry) ? entry[part] : undefined;
        return [typeof own === 'number' || typeof own === 'string' ? String(own) : String(i), entry];
      })
    : isRecord(field)
      ? Object.entries(field)
      : [];
  if (entries.length === 0) return undefined;
  const bars: BreakdownBar[] = [];
  for (const [key, entry] of entries) {
    if (!isRecord(entry) || !('loss' in entry)) return undefined;
    const loss = entry.loss;
    if (loss !== null && typeof loss !== 'number') return undefined;
    const bar: BreakdownBar = {
      label: `${thing} ${key}`,
      value: typeof loss === 'number' && Number.isFinite(loss) ? loss : null,
    };
    if (typeof entry.what === 'string') bar.detail = entry.what;
    bars.push(bar);
  }
  return bars;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
