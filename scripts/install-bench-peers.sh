#!/usr/bin/env bash
# Installs the peers `npm run bench` measures gpt2o-pipe against, from Debian's apt (root needed):
# Snakemake and make (no-ops), xxhsum and b3sum (hashing), ffmpeg and sox with its MP3 plugin
# (resampling), and PyTorch with OpenBLAS (training; run as /usr/bin/python3). Without one, the
# bench prints a warning and leaves that target unmeasured. Safe to run again.
set -euo pipefail
packages=(snakemake make xxhash b3sum ffmpeg sox libsox-fmt-mp3 python3-torch python3-numpy libopenblas0)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-bench-peers: all installed (${packages[*]})"
  exit 0
fi
echo "install-bench-peers: apt-get install ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
