#!/usr/bin/env bash
# Stops the cluster test/slurm/start.sh DIR started (by its pid files) and removes DIR.
# munged is left running: other clusters on this machine may use it.
set -uo pipefail
DIR=${1:?usage: stop.sh DIR}
[ -d "$DIR" ] || exit 0
for daemon in slurmd slurmctld; do
  pidfile="$DIR/$daemon.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
done
rm -rf "$DIR"
