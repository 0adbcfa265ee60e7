// Sizes and durations for people: the one owner of both formats, engine and stages alike.
//
// Sizes are binary with IEC names (1 KiB = 1024 B): the engine reports files, trees and free disk
// space, which tools like `du -h`, `ls -lh` and `df -h` count in powers of 1024; the names say so,
// so "KB" never means 1024 here. Stages use this one too, through the stage API, so a stage's
// log line and the engine's report never disagree on what a "K" is.

/** 512 → "512 B", 65536 → "64 KiB", 1.5 × 2^30 → "1.5 GiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}

/** 0.5 → "0.50s", 12.3 → "12.3s", 125 → "2m05s": how long a stage or a run took. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.round(seconds - m * 60)).padStart(2, '0')}s`;
}

/**
 * Time left, as a clock: 75 → "1:15", 3700 → "1:01:40" (whole seconds, rounded up: an ETA never
 * says 0:00 while work remains). Progress messages of stages (downloads, training) use it.
 */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.ceil(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
