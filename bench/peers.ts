// The peers of the report's header: each one's version and how it runs, and a warning for every
// peer that is missing (its target is then not measured) — a report must never look complete
// when it is not. scripts/install-bench-peers.sh installs them all.
import { spawnSync } from 'node:child_process';
import { isInstalled } from './tools.ts';

export interface PeerInfo {
  name: string;
  /** The version line the tool prints, or null when it is not installed. */
  version: string | null;
  /** How the bench runs it. */
  how: string;
  /** What its absence costs. */
  needed: string;
}

const PEERS: { name: string; args: string[]; how: string; needed: string }[] = [
  {
    name: 'snakemake',
    args: ['--version'],
    how: '--cores 1 -q, one explicit rule per stage',
    needed: 'the no-op targets',
  },
  { name: 'make', args: ['--version'], how: 'one explicit rule per stage', needed: 'the no-op rows' },
  { name: 'xxhsum', args: ['--version'], how: '-H2 (XXH128), a whole process', needed: 'the hashing target' },
  { name: 'b3sum', args: ['--version'], how: 'all threads, and --num-threads 1', needed: 'the BLAKE3 rows' },
  {
    name: 'ffmpeg',
    args: ['-version'],
    how: '-ar 24000 -ac 1, one process per file',
    needed: 'the resampling target',
  },
  { name: 'sox', args: ['--version'], how: 'rate -v 24k', needed: 'the sox resampling row' },
];

function versionLine(name: string, args: string[]): string | null {
  if (!isInstalled(name)) return null;
  const r = spawnSync(name, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const line = text.split('\n').find((l) => /\d+\.\d+/.test(l));
  return line?.trim().replace(/\s+/g, ' ').slice(0, 80) ?? 'installed (version unknown)';
}

/** Version and role of every command-line peer. */
export function describePeers(): PeerInfo[] {
  return PEERS.map((p) => ({
    name: p.name,
    version: versionLine(p.name, p.args),
    how: p.how,
    needed: p.needed,
  }));
}

/** One warning per missing peer, naming what goes unmeasured and how to install it. */
export function missingPeerWarnings(peers: PeerInfo[]): string[] {
  return peers
    .filter((p) => p.version === null)
    .map(
      (p) => `${p.name} is not installed; not measured: ${p.needed} (bash scripts/install-bench-peers.sh)`,
    );
}
