#!/usr/bin/env bash
# `make cluster`: a whole multi-region Aloft cluster on this machine, left
# running in the background: versitygw (S3 blobs), three `aloft origin`
# nodes (one raft cluster), edges in two or three regions, `aloft geodns`
# and CoreDNS answering updates.aloft.test with the nearest ready region's
# edges. Each edge runs in a network namespace of its own (a veth on one
# bridge) when the machine allows it, else on its own loopback address.
# deploy/cluster/down.sh (`make cluster-down`) removes all of it.
#
# Knobs (environment):
#   ALOFT_CLUSTER_DIR      state: pids/, logs/, data, tokens (default /tmp/aloft-cluster)
#   ALOFT_CLUSTER_REGIONS  regions, from eu us ap (default "eu us ap")
#   ALOFT_CLUSTER_EDGES    edges per region (default 2, at most 9)
#   ALOFT_CLUSTER_NET      N in the 10.N.0.0/16 (netns) or 127.N.0.0/16
#                          (loopback) addresses, 1-254 (default 77): two
#                          clusters on one machine need different ones
#   ALOFT_CLUSTER_NETNS    auto (default) or 0: loopback addresses only
#   ALOFT_BIN, ALOFT_COREDNS, ALOFT_VERSITYGW  binaries (default bin/aloft,
#                          and $(go env GOPATH)/bin as scripts/deps.d installs)
set -euo pipefail
cd "$(dirname "$0")/../.."

DIR=${ALOFT_CLUSTER_DIR:-${TMPDIR:-/tmp}/aloft-cluster}
REGIONS=${ALOFT_CLUSTER_REGIONS:-eu us ap}
EDGES=${ALOFT_CLUSTER_EDGES:-2}
NET=${ALOFT_CLUSTER_NET:-77}
NETNS=${ALOFT_CLUSTER_NETNS:-auto}
gobin="$(go env GOPATH)"; gobin="${gobin%%:*}/bin"
ALOFT=${ALOFT_BIN:-bin/aloft}
COREDNS=${ALOFT_COREDNS:-$gobin/coredns}
VERSITYGW=${ALOFT_VERSITYGW:-$gobin/versitygw}

say() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }

[[ $NET =~ ^[0-9]+$ ]] && ((NET >= 1 && NET <= 254)) || die "ALOFT_CLUSTER_NET=$NET: want 1-254"
[[ $EDGES =~ ^[1-9]$ ]] || die "ALOFT_CLUSTER_EDGES=$EDGES: want 1-9"
for b in "$ALOFT" "$COREDNS" "$VERSITYGW"; do
  [ -x "$b" ] || die "$b is missing: run make build and make deps (scripts/deps.d)"
done
command -v curl >/dev/null || die "curl is missing"
if [ -e "$DIR/env" ]; then
  die "$DIR holds a cluster already (make cluster-down first)"
fi
mkdir -p "$DIR"/{pids,logs,data,dns}
DIR=$(cd "$DIR" && pwd)
ALOFT=$(cd "$(dirname "$ALOFT")" && pwd)/$(basename "$ALOFT")

# Region facts: its number in the addresses, where its clients are (a
# documentation subnet dig sends as client-subnet, and the region's own
# namespace subnet), the GeoIP continents it serves, its failover order.
region_num() { case $1 in eu) echo 1 ;; us) echo 2 ;; ap) echo 3 ;; *) die "unknown region $1 (eu, us, ap)" ;; esac; }
region_clients() { case $1 in eu) echo 192.0.2.0/24 ;; us) echo 198.51.100.0/24 ;; ap) echo 203.0.113.0/24 ;; esac; }
region_place() { case $1 in eu) echo DE/EU ;; us) echo US/NA ;; ap) echo JP/AS ;; esac; }
region_continents() { case $1 in eu) echo '"EU","AF"' ;; us) echo '"NA","SA"' ;; ap) echo '"AS","OC"' ;; esac; }
region_failover() { case $1 in eu) echo us ap ;; us) echo eu ap ;; ap) echo us eu ;; esac; }
for r in $REGIONS; do region_num "$r" >/dev/null; done

# Network: namespaces where `ip netns add` works (root, a kernel that
# allows it), loopback addresses otherwise.
NS_PREFIX="al$NET-" BRIDGE="albr$NET"
mode=loopback
if [ "$NETNS" != 0 ]; then
  if [ "$(id -u)" = 0 ] && ip netns add "${NS_PREFIX}probe" 2>"$DIR/logs/netns-probe.log"; then
    ip netns del "${NS_PREFIX}probe"
    mode=netns
  else
    say "network namespaces unavailable ($(head -c 200 "$DIR/logs/netns-probe.log" 2>/dev/null || true)); falling back to loopback addresses 127.$NET.x.y"
  fi
fi
if [ $mode = netns ] && ip -o addr show | grep -q "inet 10\.$NET\."; then
  ip netns list | grep -q "^$NS_PREFIX" && die "namespaces $NS_PREFIX* exist: make cluster-down first"
  die "10.$NET.0.0/16 is in use on this machine: pick another ALOFT_CLUSTER_NET"
fi
if [ $mode = netns ]; then
  HOST=10.$NET.0.1
else
  HOST=127.$NET.0.1
fi
# edge_ip REGION I: edge I of REGION at .(10+I) of the region's /24.
edge_ip() { echo "${HOST%.0.1}.$(region_num "$1").$((10 + $2))"; }
cat >"$DIR/env" <<ENV
MODE=$mode
NET=$NET
HOST=$HOST
NS_PREFIX=$NS_PREFIX
BRIDGE=$BRIDGE
API=http://$HOST:7071
DNS=$HOST:5353
ENV

if [ $mode = netns ]; then
  say "network namespaces: bridge $BRIDGE $HOST/16, one namespace per edge"
  ip link add "$BRIDGE" type bridge
  ip addr add "$HOST/16" dev "$BRIDGE"
  ip link set "$BRIDGE" up
fi

# start NAME NETNS CMD…: a child in its own session, output in logs/,
# pid in pids/ (ip netns exec and setsid both exec, so $! is the child).
start() {
  local name=$1 ns=$2
  shift 2
  if [ -n "$ns" ]; then
    setsid ip netns exec "$ns" "$@" </dev/null >"$DIR/logs/$name.log" 2>&1 &
  else
    setsid "$@" </dev/null >"$DIR/logs/$name.log" 2>&1 &
  fi
  echo $! >"$DIR/pids/$name.pid"
}

# wait_for WHAT SECONDS CMD…: poll CMD every 0.2 s.
wait_for() {
  local what=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what (logs in $DIR/logs)"
    sleep 0.2
  done
}

# Secrets, generated once per cluster.
umask 077
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/admin-token"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/peer-token"
head -c 32 /dev/urandom | base64 >"$DIR/gossip.key"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/s3-secret"
umask 022
ADMIN=$(cat "$DIR/admin-token")

say "blob store: versitygw on $HOST:7090"
mkdir -p "$DIR/data/s3"
start versitygw "" "$VERSITYGW" --port "$HOST:7090" --access aloft --secret "$(cat "$DIR/s3-secret")" --quiet posix "$DIR/data/s3"
wait_for "versitygw" 30 curl -s -o /dev/null "http://$HOST:7090/"
# An empty body's SHA-256: versitygw wants the payload hash header.
curl -sf -X PUT -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" --aws-sigv4 "aws:amz:us-east-1:s3" -u "aloft:$(cat "$DIR/s3-secret")" "http://$HOST:7090/aloft" >/dev/null ||
  die "could not create the bucket (logs/versitygw.log)"

say "origins: o1 o2 o3 (raft) on $HOST:7071-7073"
origin() { # id n extra…
  local id=$1 n=$2
  shift 2
  start "$id" "" env ALOFT_ADMIN_TOKEN="$ADMIN" AWS_ACCESS_KEY_ID=aloft AWS_SECRET_ACCESS_KEY="$(cat "$DIR/s3-secret")" \
    "$ALOFT" origin --node-id "$id" --data "$DIR/data/$id" --raft-addr "$HOST:700$n" --api-addr "$HOST:707$n" \
    --s3-endpoint "$HOST:7090" --s3-bucket aloft --s3-insecure "$@"
}
cli() { ALOFT_API="http://$HOST:7071" ALOFT_TOKEN="$ADMIN" HOME="$DIR" "$ALOFT" "$@"; }
origin o1 1 --bootstrap
wait_for "o1's API" 30 curl -sf "http://$HOST:7071/healthz"
origin o2 2 --join "$HOST:7071"
origin o3 3 --join "$HOST:7071"
three_nodes() { [ "$(cli cluster status --json | grep -o '"node_id"' | wc -l)" -ge 3 ] && cli cluster status --json | grep -q '"leader_id": *"o'; }
wait_for "three origin nodes with a leader" 60 three_nodes
cli token create edges --role edge --json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' >"$DIR/edge-token"
[ -s "$DIR/edge-token" ] || die "could not create the edges' token"
ORIGINS="http://$HOST:7071,http://$HOST:7072,http://$HOST:7073"

say "edges ($mode): $EDGES per region in $REGIONS"
first_gossip=""
for r in $REGIONS; do
  for i in $(seq 1 "$EDGES"); do
    name="$r-$i" ip=$(edge_ip "$r" "$i") ns=""
    if [ $mode = netns ]; then
      ns="$NS_PREFIX$name" veth="v$NET$r$i"
      ip netns add "$ns"
      ip link add "$veth" type veth peer name eth0 netns "$ns"
      ip link set "$veth" master "$BRIDGE" up
      ip -n "$ns" addr add "$ip/16" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$ns" link set lo up
    fi
    join=()
    [ -n "$first_gossip" ] && join=(--join "$first_gossip")
    mkdir -p "$DIR/data/$name"
    start "$name" "$ns" env ALOFT_TOKEN="$(cat "$DIR/edge-token")" ALOFT_PEER_TOKEN="$(cat "$DIR/peer-token")" \
      "$ALOFT" edge --name "$name" --region "$r" --addr "$ip:7080" --public-url "http://updates.aloft.test:7080" \
      --origin "$ORIGINS" --data-dir "$DIR/data/$name/data" --spool "$DIR/data/$name/spool" \
      --gossip-bind "$ip:7946" --gossip-key-file "$DIR/gossip.key" --peer-url "http://$ip:7080" --advertise-addr "$ip" "${join[@]}"
    [ -z "$first_gossip" ] && first_gossip="$ip:7946"
  done
done
for r in $REGIONS; do
  for i in $(seq 1 "$EDGES"); do
    wait_for "edge $r-$i ready" 60 curl -sf "http://$(edge_ip "$r" "$i"):7080/readyz"
  done
done

say "GeoIP database (generated) and geodns"
nets=()
regions_json=()
for r in $REGIONS; do
  nets+=("$(region_clients "$r")=$(region_place "$r")" "10.$NET.$(region_num "$r").0/24=$(region_place "$r")")
  fo=()
  for f in $(region_failover "$r"); do
    [[ " $REGIONS " == *" $f "* ]] && fo+=("\"$f\"")
  done
  regions_json+=("{\"name\":\"$r\",\"continents\":[$(region_continents "$r")],\"failover\":[$(IFS=,; echo "${fo[*]}")]}")
done
go run ./deploy/cluster/mkgeodb -out "$DIR/dns/geo.mmdb" "${nets[@]}"
cat >"$DIR/geodns.json" <<JSON
{
  "zone": "aloft.test",
  "host": "updates",
  "listen": "$HOST:5353",
  "geoip_db": "$DIR/dns/geo.mmdb",
  "dir": "$DIR/dns",
  "regions": [$(IFS=,; echo "${regions_json[*]}")],
  "origin": "$ORIGINS"
}
JSON
# geodns learns the edges from the origin (each edge reports its
# --advertise-addr and /readyz), with a read-only token.
cli token create geodns --role read --json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' >"$DIR/geodns-token"
[ -s "$DIR/geodns-token" ] || die "could not create geodns's token"
start geodns "" env ALOFT_TOKEN="$(cat "$DIR/geodns-token")" "$ALOFT" geodns --config "$DIR/geodns.json" --ready-file "$DIR/dns/ready"
wait_for "geodns's first zone files" 30 test -s "$DIR/dns/ready"
start coredns "" "$COREDNS" -conf "$DIR/dns/Corefile"
first=$(set -- $REGIONS; echo "$1")
wait_for "CoreDNS" 30 bash -c "dig +short +time=1 +tries=1 @$HOST -p 5353 updates.aloft.test A | grep -q ."

cat <<DONE

Aloft cluster up ($mode), state in $DIR
  operator API   http://$HOST:7071  (also :7072, :7073)
  admin token    $DIR/admin-token
                 export ALOFT_API=http://$HOST:7071 ALOFT_TOKEN=\$(cat $DIR/admin-token)
  DNS            $HOST port 5353 (CoreDNS), name updates.aloft.test
  edges          port 7080 on $(for r in $REGIONS; do for i in $(seq 1 "$EDGES"); do printf '%s ' "$r-$i=$(edge_ip "$r" "$i")"; done; done)
  ask as a client of each region (EDNS client-subnet):
$(for r in $REGIONS; do echo "    dig +short +subnet=$(region_clients "$r") @$HOST -p 5353 updates.aloft.test A    # $r"; done)
$(if [ $mode = netns ]; then echo "    ip netns exec $NS_PREFIX$first-1 dig +short @$HOST -p 5353 updates.aloft.test A    # from inside $first"; fi)
  logs           $DIR/logs/   (geodns.log shows every readiness change)
  stop it all    make cluster-down   (or ALOFT_CLUSTER_DIR=$DIR deploy/cluster/down.sh)
DONE
