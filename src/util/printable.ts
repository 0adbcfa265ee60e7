// Text from a stage's process (or a file name it wrote) shown on a terminal: escape sequences could
// move the cursor, retitle the window or hide lines, so they never reach the terminal raw. The
// stage's log file keeps the raw bytes.

// CSI (colors, cursor moves) and OSC (titles, hyperlinks) sequences, dropped whole.
const SEQUENCE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?/g;
// Every other C0/C1 control character except tab and newline.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** `text` with escape sequences removed and other control characters shown as `\xNN`. */
export function printable(text: string): string {
  return text
    .replace(SEQUENCE, '')
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
