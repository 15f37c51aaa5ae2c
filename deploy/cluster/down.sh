#!/usr/bin/env bash
# `make cluster-down`: removes what deploy/cluster/up.sh made — its
# processes, network namespaces, veths, bridge and state directory.
# Idempotent: run it any number of times, after a whole or a half-made
# cluster. It kills only processes named in the state directory's pids/
# whose command line still mentions that directory (so a reused pid is
# left alone), and only namespaces and links carrying the cluster's
# ALOFT_CLUSTER_NET in their names.
set -uo pipefail

DIR=${ALOFT_CLUSTER_DIR:-${TMPDIR:-/tmp}/aloft-cluster}
NET=${ALOFT_CLUSTER_NET:-77}
if [ -r "$DIR/env" ]; then
  NET=$(sed -n 's/^NET=//p' "$DIR/env")
fi
[[ $NET =~ ^[0-9]+$ ]] || { echo "cluster-down: bad NET $NET" >&2; exit 1; }
NS_PREFIX="al$NET-" BRIDGE="albr$NET"

ours() { # pid: alive and started by up.sh for this state directory
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$DIR"
}
pids=()
for f in "$DIR"/pids/*.pid; do
  [ -e "$f" ] || continue
  p=$(cat "$f")
  [[ $p =~ ^[0-9]+$ ]] && ours "$p" && pids+=("$p")
done
if ((${#pids[@]})); then
  echo "cluster-down: stopping ${#pids[@]} processes"
  kill -TERM "${pids[@]}" 2>/dev/null
  # Edges ship their last stats for up to 5 s on SIGTERM.
  for _ in $(seq 1 50); do
    alive=()
    for p in "${pids[@]}"; do ours "$p" && alive+=("$p"); done
    ((${#alive[@]})) || break
    sleep 0.2
  done
  for p in "${pids[@]}"; do ours "$p" && kill -KILL "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 25); do ours "$p" || break; sleep 0.2; done
  done
fi

if command -v ip >/dev/null 2>&1; then
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX" || true); do
    # Anything still inside (a child up.sh did not record) goes with it.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null && echo "cluster-down: removed namespace $ns"
  done
  # Deleting a namespace deletes its veth pair; a half-made one may be left.
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^(v$NET(eu|us|ap)[0-9]|$BRIDGE)$" || true); do
    ip link del "$l" 2>/dev/null && echo "cluster-down: removed link $l"
  done
fi

if [ -d "$DIR" ]; then
  rm -rf "$DIR" && echo "cluster-down: removed $DIR"
fi
exit 0
