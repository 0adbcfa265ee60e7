#!/usr/bin/env bash
# Starts a one-node Slurm cluster (this machine) for the Slurm executor's tests:
#   test/slurm/start.sh DIR   writes DIR/slurm.conf, starts munged (unless one answers), slurmctld and
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
for tool in munged munge unmunge slurmctld slurmd sinfo; do
  command -v "$tool" >/dev/null || { echo "start.sh: $tool is not installed (apt-get install slurm-wlm munge)" >&2; exit 1; }
done
# munged as Debian's package means it to run (user munge), prepared for whatever state this machine
# is in. There is no systemd here, so nothing creates /run/munge after `apt-get install munge`; and
# after munged has once run as root, its log and state belong to root and the munge user cannot open
# them. A munged that already answers (`munge -n | unmunge`) is kept: other clusters may use it.
munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
start_munged() {
  munge_works && return 0
  # A munged that runs but does not answer (its socket folder was removed) is replaced.
  pkill -x munged 2>/dev/null && sleep 0.5
  local owner=root
  id -u munge >/dev/null 2>&1 && owner=munge
  install -d -m 0755 -o "$owner" -g "$owner" /run/munge
  install -d -m 0700 -o "$owner" -g "$owner" /etc/munge /var/lib/munge /var/log/munge
  chown -R "$owner:$owner" /etc/munge /var/lib/munge /var/log/munge
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key --force
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
  fi
  chown "$owner:$owner" /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  local started=0
  if [ "$owner" = munge ]; then
    runuser -u munge -- munged --force && started=1
  else
    munged --force && started=1
  fi
  local deadline=$(( $(date +%s) + 10 ))
  until munge_works; do
    if [ "$started" = 0 ] || [ "$(date +%s)" -ge "$deadline" ]; then
      echo "start.sh: munged did not start or does not answer (as $owner); /var/log/munge/munged.log:" >&2
      tail -5 /var/log/munge/munged.log >&2 2>/dev/null
      exit 1
    fi
    sleep 0.2
  done
  echo "start.sh: munged started as $owner" >&2
}
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
start_munged
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
