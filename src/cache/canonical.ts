// Canonical JSON (sorted keys, no whitespace), as DVC's dict_hash and Bazel's Action digest do, so
// equal descriptions hash equally however their keys were ordered.

/**
 * Serializes plain data deterministically; undefined members are dropped like JSON.stringify does.
 * Written as loops appending to one string: every stage's key is made of it, and the map/filter/join
 * form allocated an array per object and per array (a tenth of a no-op of 5,000 stages).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError(`cannot hash the number ${value}`);
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item = value[i];
      out += canonicalJson(item === undefined ? null : item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}
