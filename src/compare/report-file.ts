// Where `compare --html FILE` may write: a new .html file in an existing folder, or a report that
// compare itself wrote before. Anything else is refused before a byte is written, so a slip such
// as `compare --html pipeline.yaml` never replaces a user's file.
import { closeSync, openSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, relative } from 'node:path';
import { PipeError } from '../errors.ts';

/** In the <head> of every report (renderReport), so a later run knows the file is its own. */
export const REPORT_MARKER = '<meta name="generator" content="gpt2o-pipe compare">';
/** Reports written before the marker existed carry this script tag near their end. */
const OLD_REPORT_SIGNATURE = '<script type="application/json" id="report-data">';

/** Throws a usage error naming `file` unless compare may write its report there. */
export function checkReportTarget(file: string, cwd: string): void {
  const shown = relative(cwd, file) || file;
  const refuse = (why: string, hint: string) =>
    new PipeError(`compare --html ${shown}: ${why}`, { code: 'E_USAGE_HTML_TARGET', hint });
  if (!/\.html?$/i.test(file)) {
    throw refuse(
      'the report is HTML, and this name does not end in .html',
      'pass a path such as report.html',
    );
  }
  const folder = dirname(file);
  const folderInfo = statSync(folder, { throwIfNoEntry: false });
  if (!folderInfo?.isDirectory()) {
    throw refuse(
      `the folder ${relative(cwd, folder) || folder} ${folderInfo ? 'is not a folder' : 'does not exist'}`,
      `create it first (mkdir -p ${relative(cwd, folder) || folder}), or write the report elsewhere`,
    );
  }
  const info = statSync(file, { throwIfNoEntry: false });
  if (!info) return;
  if (!info.isFile()) throw refuse('it exists and is not a file', 'pass the path of a new .html file');
  if (!isOwnReport(file)) {
    throw refuse(
      'the file exists and is not a report compare wrote, so it is left alone',
      `pass a new file name, or delete ${basename(file)} first if you mean to replace it`,
    );
  }
}

/** Writes the report through a temp file and a rename: a failed write leaves no half report. */
export function writeReport(file: string, html: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, html);
  renameSync(temp, file);
}

function isOwnReport(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    // The marker is in the first kilobytes; the old signature sits after the report's data, so a
    // whole old report is searched (reports are a few MB at most).
    const size = Math.min(statSync(file).size, 64 << 20);
    const buffer = Buffer.alloc(size);
    readSync(fd, buffer, 0, size, 0);
    const text = buffer.toString('utf8');
    return (
      text.includes(REPORT_MARKER) ||
      (text.startsWith('<!doctype html>') && text.includes(OLD_REPORT_SIGNATURE))
    );
  } finally {
    closeSync(fd);
  }
}
