// The `sha256:` pins of a stage: which file must have which SHA-256. It remembers which pins were
// consulted, so a pin that names no downloaded file (a typo) is an error instead of a silent no-op.
import { StageError } from '../../src/stage-api/index.ts';

/** The `sha256:` pins, remembering which were used so a pin naming no file is an error, not a no-op. */
export class Pins {
  private readonly used = new Set<string>();
  constructor(private readonly pins: Readonly<Record<string, string>>) {}

  /** The pinned hash of `name`, if any (and marks the pin used). */
  expected(name: string): string | undefined {
    if (!Object.hasOwn(this.pins, name)) return undefined;
    this.used.add(name);
    return this.pins[name];
  }

  /** Throws when `name` is pinned to another hash than `actual`. */
  check(name: string, actual: string, from: string): void {
    const expected = this.expected(name);
    if (expected && expected !== actual) throw pinMismatch(name, expected, actual, from);
  }

  /** Throws when a pin named no file; `names` (paths inside the source) go in the hint. */
  assertAllUsed(names: readonly string[]): void {
    const unused = Object.keys(this.pins).filter((name) => !this.used.has(name));
    if (unused.length === 0) return;
    throw new StageError(
      `sha256: pins ${unused.map((n) => `"${n}"`).join(', ')}, but no such file was downloaded`,
      {
        hint: `pin files by their path inside the source, e.g. ${names
          .slice(0, 5)
          .map((n) => `"${n}"`)
          .join(', ')}`,
      },
    );
  }
}

/** The error for a file whose SHA-256 is not the one pinned in `sha256:`. */
export function pinMismatch(name: string, expected: string, actual: string, from?: string): StageError {
  return new StageError(
    `${name}${from ? ` (from ${from})` : ''} has sha256 ${actual}, but sha256: pins ${expected}`,
    {
      hint: `the source changed or the pin is wrong; if the new file is right, pin "${name}": ${actual}`,
    },
  );
}
