#!/usr/bin/env bash
# A Slurm cluster on fake nodes (scripts/fake-nodes.sh): slurmctld in this namespace on the
# bridge's address, one slurmd per node namespace (its own hostname, its own PMIx directory), from
# Debian's packages, with auth/none and cred/none: no munge, no systemd, nothing left running after
# `down`. For tests of `srun --mpi=pmix`.
#
#   fake-slurm.sh up NAME SUBNET CPUS   the nodes NAME-n* must exist; prints the SLURM_CONF to use
#   fake-slurm.sh down NAME             stops the daemons and removes their files
#
# Exits 2 when Slurm is not installed (slurmctld, slurmd, srun).
set -euo pipefail

command=${1:-}
name=${2:-}
dir="/tmp/scaletune-slurm-$name"
case "$command" in
up)
  subnet=$3 cpus=$4
  for tool in slurmctld slurmd srun sinfo; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
      echo "fake-slurm: $tool is missing (Debian: slurmctld slurmd slurm-client slurm-wlm-basic-plugins)" >&2
      exit 2
    fi
  done
  nodes=$(ip netns list | awk '{print $1}' | grep "^$name-n" | sort -t n -k 2 -n || true)
  if [ -z "$nodes" ]; then
    echo "fake-slurm: no fake nodes $name-n*: make them first (fake-nodes.sh up $name …)" >&2
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir/ctl" "$dir/state"
  {
    echo "ClusterName=scaletune$subnet"
    echo "SlurmctldHost=$(hostname -s)(198.18.$subnet.1)"
    echo "MailProg=/bin/true"
    echo "AuthType=auth/none"
    echo "CredType=cred/none"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SlurmdParameters=config_overrides"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "SlurmctldPort=$((6817 + 2 * subnet))"
    echo "SlurmdPort=$((6818 + 2 * subnet))"
    echo "StateSaveLocation=$dir/state"
    echo "SlurmdSpoolDir=$dir/spool-%n"
    echo "SlurmctldPidFile=$dir/slurmctld.pid"
    echo "SlurmdPidFile=$dir/slurmd-%n.pid"
    echo "SlurmctldLogFile=$dir/slurmctld.log"
    echo "SlurmdLogFile=$dir/slurmd-%n.log"
    echo "MpiDefault=none"
    echo "ReturnToService=2"
    echo "SchedulerType=sched/builtin"
    echo "SelectType=select/linear"
    echo "JobCompType=jobcomp/none"
    echo "InactiveLimit=0"
    echo "KillWait=5"
    for ns in $nodes; do
      i=${ns##*-n}
      echo "NodeName=node$i NodeAddr=198.18.$subnet.$((10 + i)) CPUs=$cpus State=UNKNOWN"
    done
    echo "PartitionName=fake Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES"
  } >"$dir/ctl/slurm.conf"
  /usr/sbin/slurmctld -D -i -f "$dir/ctl/slurm.conf" >"$dir/slurmctld.out" 2>&1 &
  echo $! >"$dir/pids"
  for ns in $nodes; do
    i=${ns##*-n}
    # Each slurmd its own configuration directory: the same slurm.conf, its own PMIx directory.
    mkdir -p "$dir/node$i" "$dir/pmix-node$i"
    cp "$dir/ctl/slurm.conf" "$dir/node$i/slurm.conf"
    echo "PMIxCliTmpDirBase=$dir/pmix-node$i" >"$dir/node$i/mpi.conf"
    nsenter --net="/run/netns/$ns" unshare --uts sh -c "hostname node$i; exec /usr/sbin/slurmd -D -N node$i -f $dir/node$i/slurm.conf" \
      >"$dir/slurmd-node$i.out" 2>&1 &
    echo $! >>"$dir/pids"
  done
  # Ready once every node is idle.
  export SLURM_CONF="$dir/ctl/slurm.conf"
  for _ in $(seq 1 60); do
    states=$(sinfo -h -N -o %t 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [ "$states" = "idle " ]; then
      echo "$SLURM_CONF"
      exit 0
    fi
    sleep 0.5
  done
  echo "fake-slurm: the nodes did not come up (states: ${states:-none}); see $dir" >&2
  exit 1
  ;;
down)
  if [ -f "$dir/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$dir/pids"
    sleep 1
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$dir/pids"
  fi
  pkill -9 -f "slurmd -D -N node[0-9]* -f $dir/" 2>/dev/null || true
  rm -rf "$dir"
  ;;
*)
  sed -n '2,11p' "$0" >&2
  exit 1
  ;;
esac
