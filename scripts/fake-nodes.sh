#!/usr/bin/env bash
# Fake nodes on one machine: network namespaces joined by a bridge, each node's link shaped by
# tc tbf, for tests and trials of multi-node runs. Addresses only in 198.18.0.0/15 (RFC 2544's
# benchmarking range), only inside the namespaces this script makes; nothing routes off the machine.
#
#   fake-nodes.sh up NAME SUBNET RATE...   one node per RATE (e.g. 1gbit, 200mbit): namespaces
#                                          NAME-n0 …, bridge NAME-br at 198.18.SUBNET.1/24, node i
#                                          at 198.18.SUBNET.(10+i), hostname node<i>
#   fake-nodes.sh down NAME                removes every namespace NAME-n* and the bridge
#   fake-nodes.sh agent HOST COMMAND…      mpirun's rsh agent (--mca plm_rsh_agent): runs COMMAND
#                                          in the namespace holding HOST's address, under its hostname
#   fake-nodes.sh on NAME I COMMAND…       runs COMMAND on node I (its namespace and hostname): mpirun
#                                          on the first node of the job, as on a cluster
#   fake-nodes.sh hostfile NAME SUBNET SLOTS   prints an Open MPI hostfile of NAME's nodes
#   fake-nodes.sh cut NAME I / mend NAME I     takes node I's link down / up
#
# Needs root (ip netns, tc). Exits 2 when namespaces cannot be made here, so that a test can say
# why it skips.
set -euo pipefail

command=${1:-}
case "$command" in
up)
  name=$2 subnet=$3
  shift 3
  if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1; then
    echo "fake-nodes: needs root and iproute2 (ip, tc) to make network namespaces" >&2
    exit 2
  fi
  # Whatever an earlier run of the same name left, first.
  "$0" down "$name"
  if ! ip link add "$name-br" type bridge 2>/dev/null; then
    echo "fake-nodes: cannot create a bridge here (no CAP_NET_ADMIN, or $name-br exists)" >&2
    exit 2
  fi
  trap '"$0" down "$name"' ERR
  ip addr add "198.18.$subnet.1/24" dev "$name-br"
  ip link set "$name-br" up
  i=0
  for rate in "$@"; do
    ns="$name-n$i" host="$name-h$i"
    ip netns add "$ns"
    ip link add "$host" type veth peer name eth0 netns "$ns"
    ip link set "$host" master "$name-br" up
    ip -n "$ns" link set lo up
    # A node gives up on a peer that stopped acknowledging after 5 retransmissions (about 25 s here)
    # rather than the kernel's default 15 (about 15 minutes): mpirun waits that long for the
    # daemon of a node whose link was cut before it ends the job.
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_retries2=5
    ip -n "$ns" addr add "198.18.$subnet.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    # The node's egress (inside) and ingress (the bridge's port towards it).
    tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
    tc qdisc add dev "$host" root tbf rate "$rate" burst 256kb latency 50ms
    i=$((i + 1))
  done
  ;;
down)
  name=$2
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$name-n" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  # The bridge's ends of the nodes' links, should a namespace outlive its name (a process still in it).
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$name-h" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$name-br" 2>/dev/null || true
  ;;
agent)
  # Open MPI calls the agent as ssh: options first (-x …), then the host, then the command.
  shift
  while [ "${1:-}" != "" ] && [ "${1#-}" != "$1" ]; do shift; done
  host=$1
  shift
  ns=""
  for candidate in $(ip netns list | awk '{print $1}'); do
    if ip -n "$candidate" -4 addr show 2>/dev/null | grep -q "inet $host/"; then ns=$candidate; fi
  done
  if [ -z "$ns" ]; then
    echo "fake-nodes agent: no namespace holds $host" >&2
    exit 1
  fi
  index=${ns##*-n}
  exec ip netns exec "$ns" unshare --uts sh -c "hostname node$index; exec sh -c \"\$0\"" "$*"
  ;;
on)
  name=$2 index=$3
  shift 3
  exec ip netns exec "$name-n$index" unshare --uts sh -c "hostname node$index; exec \"\$@\"" sh "$@"
  ;;
hostfile)
  name=$2 subnet=$3 slots=$4
  count=$(ip netns list | awk '{print $1}' | grep -c "^$name-n" || true)
  for ((i = 0; i < count; i++)); do echo "198.18.$subnet.$((10 + i)) slots=$slots"; done
  ;;
cut)
  ip link set "$2-h$3" down
  ;;
mend)
  ip link set "$2-h$3" up
  ;;
*)
  sed -n '2,21p' "$0" >&2
  exit 1
  ;;
esac
