// `node --import tsx scripts/report-screenshot.ts REPORT.html OUT.png`: a full-page PNG of a
// `compare --html` report as headless Chromium draws it (1200 px wide), to look at a report without
// a desktop, or to attach to a pull request. Needs /usr/bin/chromium (apt-get install chromium).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const WIDTH = 1200;

const [report, out] = process.argv.slice(2);
if (!report || !out) {
  process.stderr.write('usage: node --import tsx scripts/report-screenshot.ts REPORT.html OUT.png\n');
  process.exit(2);
}
if (!existsSync(report)) {
  process.stderr.write(`report-screenshot: no such file: ${report}\n`);
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  process.stderr.write(`report-screenshot: ${CHROMIUM} is missing (apt-get install chromium)\n`);
  process.exit(2);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: WIDTH, height: 800 } });
  // Errors in the page would mean the picture is not what a reader sees; say so, but still write it.
  page.on('console', (m) => {
    if (m.type() === 'error') process.stderr.write(`report-screenshot: console error: ${m.text()}\n`);
  });
  page.on('pageerror', (e) => process.stderr.write(`report-screenshot: page error: ${e.message}\n`));
  await page.goto(pathToFileURL(resolve(report)).href);
  // The report's script sets __report.ready once every chart is drawn.
  await page.waitForFunction(
    () => (window as { __report?: { ready: boolean } }).__report?.ready === true,
    null,
    {
      timeout: 30_000,
    },
  );
  // Players show their length once the metadata is read (data URIs: quick); a broken one must
  // not hang the script, hence the timeout.
  await page.evaluate(() =>
    Promise.all(
      [...document.querySelectorAll('audio')].map(
        (audio) =>
          new Promise((resolve) => {
            if (audio.readyState >= 1) resolve(null);
            audio.addEventListener('loadedmetadata', resolve, { once: true });
            audio.addEventListener('error', resolve, { once: true });
            setTimeout(resolve, 5000);
          }),
      ),
    ),
  );
  // Spectrograms are data-URI PNGs; decode them all before the picture is taken.
  await page.evaluate(() => Promise.all([...document.images].map((img) => img.decode().catch(() => null))));
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: resolve(out), fullPage: true });
  process.stdout.write(`report-screenshot: wrote ${out}\n`);
} finally {
  await browser.close();
}
