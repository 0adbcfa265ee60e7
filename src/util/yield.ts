// Long synchronous loops of the engine (walking, checking and laying out big trees) yield now and
// then, so the other stages of a run (their logs, their exits) are not held up for long.

/** Resolves after the event loop has had a turn. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
