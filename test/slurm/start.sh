#!/usr/bin/env bash
# Starts a one-node Slurm cluster (this machine) for the Slurm executor's tests:
#   test/slurm/start.sh DIR   writes DIR/slurm.conf, starts munged (when not running), slurmctld and
#                             slurmd with it, waits until the node is idle, prints the SLURM_CONF path.
# Ports: $GPT2O_SLURM_PORT (slurmctld) and the next one (slurmd); default 17817/17818.
# Needs root (SlurmUser=root) and Debian's slurm-wlm + munge. Stop it with test/slurm/stop.sh DIR.
set -euo pipefail
DIR=${1:?usage: start.sh DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PORT=${GPT2O_SLURM_PORT:-17817}
NODE=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
for tool in munged slurmctld slurmd sinfo; do
  command -v "$tool" >/dev/null || { echo "start.sh: $tool is not installed (apt-get install slurm-wlm munge)" >&2; exit 1; }
done
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
cat > "$DIR/slurm.conf" <<CONF
ClusterName=gpt2otest
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
MinJobAge=600
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$DIR/slurm.conf"
if ! pgrep -x munged >/dev/null; then
  munged --force || { echo "start.sh: munged did not start" >&2; exit 1; }
fi
# -i: ignore saved state (a fresh cluster every time).
slurmctld -i -f "$SLURM_CONF" || { echo "start.sh: slurmctld did not start; see $DIR/log/slurmctld.log" >&2; exit 1; }
slurmd -f "$SLURM_CONF" || { echo "start.sh: slurmd did not start; see $DIR/log/slurmd.log" >&2; exit 1; }
deadline=$(( $(date +%s) + ${GPT2O_SLURM_START_TIMEOUT:-60} ))
until [ "$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1)" = idle ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "start.sh: node $NODE is not idle after ${GPT2O_SLURM_START_TIMEOUT:-60}s (sinfo: $(sinfo -h -o '%N %t' 2>&1 | head -3)); see $DIR/log/" >&2
    exit 1
  fi
  sleep 0.5
done
echo "$SLURM_CONF"
