// The report's audio: first the reference row (the real continuation of the prompt, as a stage
// wrote it to reference.wav), then a row per sample file with a player per experiment, each with
// its spectrogram beneath. All spectrograms share one colour scale (spectrogram.ts), drawn once
// at the top of the section, so a brighter band in one experiment is louder than in another.
import { readFileSync } from 'node:fs';
import { formatBytes } from '../util/format.ts';
import type { AudioFile, Comparison, ExperimentResult } from './experiment-data.ts';
import { escapeHtml, swatch } from './html-common.ts';
import { COLOR_STOPS, DB_CEIL, DB_FLOOR, renderSpectrogram } from './spectrogram/spectrogram.ts';
import { readWavPcm } from './spectrogram/wav-pcm.ts';

/** WAVs above this are not embedded: base64 grows them by a third and browsers choke on huge pages. */
export const MAX_EMBEDDED_AUDIO_BYTES = 20 * 1024 * 1024;

interface Placed {
  experiment: ExperimentResult;
  index: number;
  file: AudioFile;
}

export function renderAudio(c: Comparison): string {
  const samples = groupByFile(c, (e) => e.audio);
  const references = groupByFile(c, (e) => e.reference ?? []);
  if (samples.size === 0 && references.size === 0)
    return `<section>\n<h2>Audio</h2>\n<p class="note">The last stages wrote no WAV files.</p>\n</section>`;
  const referenceRows = [...references].map(([key, group]) => referenceRow(key, group));
  const sampleRows = [...samples].map(
    ([key, group]) => `<div class="audio-row">
<h3><code>${escapeHtml(key)}</code></h3>
<div class="audio-grid">
${group.map((placed) => audioFigure(placed, figureOpen(placed))).join('\n')}
</div>
</div>`,
  );
  return `<section>
<h2>Audio</h2>
${colorScale()}
${referenceRows.join('\n')}
${sampleRows.join('\n')}
</section>`;
}

/** Files by stage and path, in experiment order, so the same file of each experiment sits side by side. */
function groupByFile(c: Comparison, files: (e: ExperimentResult) => AudioFile[]): Map<string, Placed[]> {
  const groups = new Map<string, Placed[]>();
  c.experiments.forEach((experiment, index) => {
    for (const file of files(experiment)) {
      const key = `${file.stage}/${file.name}`;
      const group = groups.get(key) ?? [];
      group.push({ experiment, index, file });
      groups.set(key, group);
    }
  });
  return groups;
}

/**
 * The real continuation. Experiments on the same data and codec have byte-identical references:
 * then the row holds one player, named for all of them; otherwise one per experiment.
 */
function referenceRow(key: string, group: Placed[]): string {
  const bytes = group.map(({ file }) => readOrNull(file.path));
  const first = bytes[0];
  const same = first != null && bytes.every((b) => b?.equals(first));
  const figures =
    same && group.length > 1
      ? [
          audioFigure(
            group[0]!,
            `<figure class="audio reference" data-reference="${escapeHtml(group.map((p) => p.experiment.experiment).join(' '))}" data-audio="${escapeHtml(key)}">`,
            group.length === 2 ? 'both experiments' : `all ${group.length} experiments`,
          ),
        ]
      : group.map((placed) =>
          audioFigure(
            placed,
            `<figure class="audio reference" data-reference="${escapeHtml(placed.experiment.experiment)}" data-audio="${escapeHtml(key)}">`,
          ),
        );
  return `<div class="audio-row reference-row">
<h3>Reference <span class="muted">the real continuation of the prompt, through the same codec · <code>${escapeHtml(key)}</code></span></h3>
<div class="audio-grid">
${figures.join('\n')}
</div>
</div>`;
}

function figureOpen({ experiment, file }: Placed): string {
  // The data attributes name the figure for scripts (tests) without parsing the caption.
  return `<figure class="audio" data-experiment="${escapeHtml(experiment.experiment)}" data-audio="${escapeHtml(`${file.stage}/${file.name}`)}">`;
}

/** A player and its spectrogram; `who` replaces the experiment's name in the caption. */
function audioFigure({ experiment, index, file }: Placed, open: string, who?: string): string {
  const caption = `<figcaption>${who ? '' : swatch(index)}<strong>${escapeHtml(who ?? experiment.experiment)}</strong>
  <span class="muted">${escapeHtml(file.stage)} · ${escapeHtml(file.name)} · ${formatBytes(file.bytes)}</span></figcaption>`;
  if (file.bytes > MAX_EMBEDDED_AUDIO_BYTES)
    return `${open}${caption}<p class="note">Not embedded: ${formatBytes(file.bytes)} is over the ${formatBytes(MAX_EMBEDDED_AUDIO_BYTES)} limit. The file is at <code>${escapeHtml(file.path)}</code>.</p></figure>`;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file.path);
  } catch (error) {
    // A report with a hole beats no report; the note says which file and why.
    return `${open}${caption}<p class="note">Could not read <code>${escapeHtml(file.path)}</code>: ${escapeHtml((error as Error).message)}</p></figure>`;
  }
  return `${open}${caption}<audio controls preload="metadata" src="data:audio/wav;base64,${bytes.toString('base64')}"></audio>
${spectrogramImage(bytes, who ?? experiment.experiment, file)}</figure>`;
}

function spectrogramImage(bytes: Buffer, who: string, file: AudioFile): string {
  let picture: ReturnType<typeof renderSpectrogram>;
  try {
    picture = renderSpectrogram(readWavPcm(bytes));
  } catch (error) {
    return `<p class="note">No spectrogram for ${escapeHtml(file.name)}: ${escapeHtml((error as Error).message)}.</p>`;
  }
  const kHz = `${Number((picture.nyquist / 1000).toFixed(1))} kHz`;
  const seconds = `${picture.seconds.toFixed(2)} s`;
  return `<div class="spectrogram"><img src="data:image/png;base64,${picture.png.toString('base64')}" width="${picture.width}" height="${picture.height}" alt="${escapeHtml(`Spectrogram of ${who}, ${file.name}: 0 to ${kHz} over ${seconds}`)}">
<div class="axis muted"><span>0 s</span><span>0–${kHz}, bottom to top</span><span>${seconds}</span></div></div>`;
}

/** The one colour scale of every spectrogram, as a gradient with its dB ends. */
function colorScale(): string {
  const stops = COLOR_STOPS.map(([at, color]) => `${color} ${at * 100}%`).join(', ');
  return `<div class="color-scale"><span class="muted">Spectrograms, one scale for all:</span>
<span>${DB_FLOOR} dB</span><span class="gradient" style="background: linear-gradient(to right, ${stops})"></span><span>${DB_CEIL} dBFS</span></div>`;
}

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}
