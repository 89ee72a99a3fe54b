#!/usr/bin/env bash
# A real NetworkPolicy dataplane for tests: kube-router's network policy controller (iptables + ipset,
# the one k3s embeds) enforcing the cluster's NetworkPolicies between network-namespace "pods".
#
#   hack/dataplane.sh check                         can this machine run it? (names what is missing)
#   hack/dataplane.sh up --dir DIR --kubeconfig K   node namespace + kube-router against K's cluster
#   hack/dataplane.sh pod-add --dir DIR --id ID --ip IP [--tcp P,..] [--udp P,..] [--sctp P,..]
#                                                   a pod namespace with a veth to the node and an agent
#                                                   listening on the ports; prints its probe socket
#   hack/dataplane.sh pod-del --dir DIR --id ID     remove that pod namespace and its agent
#   hack/dataplane.sh status  --dir DIR             what runs, and where
#   hack/dataplane.sh down    --dir DIR             remove exactly what `up`/`pod-add` created in DIR
#
# Topology (everything lives in network namespaces named tio-<id>-*, where <id> is derived from DIR, so
# the host's interfaces, routes, sysctls and iptables are never touched):
#   - node namespace tio-<id>-node: the node address on `lo`, IP forwarding, icmp_ratelimit=0 (refusals
#     are immediate, also for a whole matrix at once), kube-router --run-firewall only. It reaches the apiserver (host loopback) through
#     two `tio-dp-agent forward` processes joined by a unix socket in DIR.
#   - pod namespace tio-<id>-<ID>: eth0 = one end of a veth whose other end is in the node namespace;
#     a /32 address and `default dev eth0`; on the node side a /32 route, proxy_arp and proxy_delay=0.
#     `tio-dp-agent serve` listens on the pod's ports and answers probes on DIR/pods/<ID>.sock.
# The Kubernetes objects are the caller's to write, except the Node (`up` creates it, `down` deletes
# it): kube-router enforces policy for Pods whose status.hostIP is the node's InternalIP and whose
# status.podIP is set (phase Running), which a test writes through the status subresource.
# kube-router leaves its rules in place on SIGTERM; deleting the node namespace removes them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
cmd="${1:-}"; shift || true
DIR="" KUBECONFIG_IN="" POD_ID="" POD_IP="" TCP="" UDP="" SCTP=""
NODE_IP="${TIO_DP_NODE_IP:-10.244.0.1}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="${2:?--dir needs a path}"; shift 2;;
    --kubeconfig) KUBECONFIG_IN="${2:?--kubeconfig needs a path}"; shift 2;;
    --node-ip) NODE_IP="${2:?--node-ip needs an address}"; shift 2;;
    --id) POD_ID="${2:?--id needs a value}"; shift 2;;
    --ip) POD_IP="${2:?--ip needs an address}"; shift 2;;
    --tcp) TCP="${2?}"; shift 2;;
    --udp) UDP="${2?}"; shift 2;;
    --sctp) SCTP="${2?}"; shift 2;;
    -h|--help) sed -n '2,26p' "$0"; exit 0;;
    *) echo "dataplane: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done

log() { printf '[dataplane] %s\n' "$*" >&2; }
die() { printf '[dataplane] ERROR: %s\n' "$*" >&2; exit 1; }

# ---- what the machine must have ----
# Prints one line per missing thing on stderr; exit 0 only when nothing is missing.
check() {
  local missing=() t ns="tio-check-$$"
  [ "$(id -u)" = 0 ] || missing+=("root: network namespaces, veth and iptables need uid 0 (running as uid $(id -u))")
  for t in ip:iproute2 iptables:iptables iptables-save:iptables iptables-restore:iptables ipset:ipset; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t%%:*}: install the Debian package ${t#*:} (apt-get install -y ${t#*:})")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    if ! ip netns add "$ns" 2>/dev/null; then missing+=("network namespaces: 'ip netns add' failed (kernel without CONFIG_NET_NS or no CAP_SYS_ADMIN)")
    else
      ip -n "$ns" link add tio-a type veth peer name tio-b 2>/dev/null || missing+=("veth: 'ip link add type veth' failed (kernel without CONFIG_VETH)")
      ip netns exec "$ns" iptables -w -t filter -N TIO-CHECK 2>/dev/null \
        && ip netns exec "$ns" iptables -w -A TIO-CHECK -m conntrack --ctstate NEW -m mark --mark 0x10000/0x10000 -m addrtype --src-type LOCAL -j REJECT 2>/dev/null \
        || missing+=("iptables: creating a chain with conntrack/mark/addrtype matches and REJECT failed in a network namespace ($(ip netns exec "$ns" iptables --version 2>&1))")
      { ip netns exec "$ns" ipset create tio-check hash:net 2>/dev/null \
        && ip netns exec "$ns" iptables -w -A TIO-CHECK -m set --match-set tio-check src -j ACCEPT 2>/dev/null; } \
        || missing+=("ipset: creating a hash:net set or matching it from iptables failed (kernel without CONFIG_IP_SET_HASH_NET / xt_set)")
      ip netns del "$ns" 2>/dev/null || true
    fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then printf 'missing: %s\n' "${missing[@]}" >&2; return 1; fi
}

[ "$cmd" = check ] && { check; exit $?; }
case "$cmd" in up|down|status|pod-add|pod-del) ;; *) echo "usage: $0 check|up|down|status|pod-add|pod-del --dir DIR ... (see --help)" >&2; exit 2;; esac
[ -n "$DIR" ] || die "--dir is required: the directory that holds this dataplane's state"
mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
ID="$(printf '%s' "$DIR" | sha1sum | cut -c1-6)"
NODE_NS="tio-$ID-node"
NODE_NAME="tio-dp-$ID"
RUN="$DIR/run"; PODS="$DIR/pods"; LOGS="$DIR/logs"
mkdir -p "$RUN" "$PODS" "$LOGS"

# A recorded pid is ours only while alive and its command line names DIR (a recycled pid is never hit).
# /proc/PID/cmdline reads empty while the process is inside execve (start() execs through `ip netns
# exec` and setsid), so an empty read is retried briefly before the pid is disowned.
ours() { local pid cmdline i; pid=$(cat "$1" 2>/dev/null) || return 1
  for i in 1 2 3 4 5 6 7 8 9 10; do
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [ -n "$cmdline" ] && break; sleep 0.05
  done
  case "$cmdline" in *"$DIR"*) echo "$pid";; *) return 1;; esac; }
# Running = present and not a zombie (our processes outlive the shell that started them, and whoever
# inherits them may reap late, so `kill -0` alone would wait for a process that has already exited).
running() { local st; st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  case "${st%% *}" in ''|Z|X) return 1;; esac; }
stop_pid() { local pid i; pid=$(ours "$1") || { rm -f "$1"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true; rm -f "$1"; }
# Starts a detached process, in a namespace when one is given, and records its pid.
start() { # pidfile, logfile, netns|"", command...
  local pidfile="$1" logfile="$2" ns="$3"; shift 3
  if [ -n "$ns" ]; then setsid ip netns exec "$ns" "$@" >>"$logfile" 2>&1 </dev/null &
  else setsid "$@" >>"$logfile" 2>&1 </dev/null & fi
  echo $! >"$pidfile"
}
record_ns() { grep -qx "$1" "$RUN/netns" 2>/dev/null || echo "$1" >>"$RUN/netns"; }
kubectl_() { "$KUBECTL" --kubeconfig "$DIR/kubeconfig" --request-timeout=10s "$@"; }
bins() {
  BIN="$(bash "$HERE/build-dataplane.sh")" || die "building the dataplane (kube-router, tio-dp-agent) failed (see above)"
  KUBECTL="${KUBECTL:-$(bash "$HERE/build-control-plane.sh")/kubectl}"
}

up() {
  if ours "$RUN/kube-router.pid" >/dev/null; then log "already up in $DIR (node $NODE_NAME)"; return 0; fi
  [ -n "$KUBECONFIG_IN" ] || die "up needs --kubeconfig: the cluster whose NetworkPolicies to enforce"
  [ -r "$KUBECONFIG_IN" ] || die "--kubeconfig $KUBECONFIG_IN is not readable"
  check || die "this machine cannot run the dataplane (missing: see above)"
  bins
  cp "$KUBECONFIG_IN" "$DIR/kubeconfig"; chmod 600 "$DIR/kubeconfig"
  local server hostport
  server=$(kubectl_ config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  case "$server" in
    https://127.0.0.1:*|https://localhost:*) hostport="127.0.0.1:${server##*:}";;
    *) die "the kubeconfig's server is $server: the dataplane bridges only a loopback apiserver (https://127.0.0.1:PORT) into its node namespace";;
  esac
  kubectl_ get --raw /readyz >/dev/null || die "the apiserver at $server is not ready"
  # Pod addresses and the node address are fixed per dataplane, so two against one cluster would collide.
  local other
  other=$(kubectl_ get nodes -l app.kubernetes.io/managed-by=tio-dataplane -o jsonpath='{range .items[*]}{.metadata.name} (dir {.metadata.annotations.isolation\.tenancy\.dev/dataplane-dir}){"\n"}{end}')
  [ -z "$other" ] || die "another dataplane is up against this cluster: $other; one at a time (stop it with: $0 down --dir DIR)"
  ip netns list | grep -q "^$NODE_NS\b" && die "network namespace $NODE_NS exists without a running kube-router: run '$0 down --dir $DIR' first"

  log "node namespace $NODE_NS (node $NODE_NAME, $NODE_IP)"
  ip netns add "$NODE_NS"; record_ns "$NODE_NS"
  ip -n "$NODE_NS" link set lo up
  ip -n "$NODE_NS" addr add "$NODE_IP/32" dev lo
  # Refusals are ICMP errors from this namespace: no per-destination rate limit, and a global budget
  # (burst 50 by default) large enough for a whole matrix at once. The budget is per namespace since
  # Linux 6.11; an older kernel has no such setting in a namespace (its host-wide budget applies).
  ip netns exec "$NODE_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0
  if ip netns exec "$NODE_NS" test -e /proc/sys/net/ipv4/icmp_msgs_per_sec; then
    ip netns exec "$NODE_NS" sysctl -qw net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000
  else
    log "kernel $(uname -r): no per-namespace ICMP budget (Linux < 6.11); the host's applies"
  fi

  start "$RUN/bridge-host.pid" "$LOGS/bridge.log" "" "$BIN/tio-dp-agent" forward --listen "unix:$RUN/apiserver.sock" --connect "tcp:$hostport"
  start "$RUN/bridge-node.pid" "$LOGS/bridge.log" "$NODE_NS" "$BIN/tio-dp-agent" forward --listen "tcp:$hostport" --connect "unix:$RUN/apiserver.sock"

  # The Node kube-router reads its address from; labelled so `down` deletes only this one.
  kubectl_ apply -f - >/dev/null <<NODE || die "could not create Node $NODE_NAME"
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  labels: {app.kubernetes.io/managed-by: tio-dataplane, kubernetes.io/hostname: $NODE_NAME}
  annotations: {isolation.tenancy.dev/dataplane-dir: "$DIR"}
spec: {unschedulable: true}
status:
  addresses: [{type: InternalIP, address: $NODE_IP}, {type: Hostname, address: $NODE_NAME}]
NODE

  log "starting kube-router (firewall only; log: $LOGS/kube-router.log)"
  start "$RUN/kube-router.pid" "$LOGS/kube-router.log" "$NODE_NS" env PATH="/usr/sbin:/usr/bin:/sbin:/bin" \
    "$BIN/kube-router" --run-firewall=true --run-router=false --run-service-proxy=false \
    --kubeconfig "$DIR/kubeconfig" --hostname-override "$NODE_NAME" --health-port 0 --v 2
  # Ready once its first full sync has written the rules ("sync iptables took" is logged at -v 1).
  local deadline=$(( $(date +%s) + 60 ))
  until grep -q 'sync iptables took' "$LOGS/kube-router.log" 2>/dev/null; do
    running "$(cat "$RUN/kube-router.pid")" || { tail -20 "$LOGS/kube-router.log" >&2; down_all; die "kube-router exited during start-up (log above)"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$LOGS/kube-router.log" >&2; down_all; die "kube-router made no policy sync in 60 s (log above)"; }
    sleep 0.1
  done
  echo "$NODE_NAME $NODE_IP" >"$RUN/node"
  log "up: node $NODE_NAME ($NODE_IP), kube-router pid $(cat "$RUN/kube-router.pid")"
  echo "$NODE_NAME $NODE_IP"
}

pod_add() {
  [ -n "$POD_ID" ] && [ -n "$POD_IP" ] || die "pod-add needs --id and --ip"
  case "$POD_ID" in *[!a-z0-9]*|?????????*) die "--id must be 1-8 characters of [a-z0-9], not '$POD_ID'";; esac
  ours "$RUN/kube-router.pid" >/dev/null || die "the dataplane in $DIR is not up"
  BIN="$(bash "$HERE/build-dataplane.sh")" || die "building the dataplane failed (see above)"
  local ns="tio-$ID-$POD_ID" veth="v$POD_ID"
  ip netns list | grep -q "^$ns\b" && die "pod $POD_ID exists already ($ns)"
  ip netns add "$ns"; record_ns "$ns"
  ip -n "$NODE_NS" link add "$veth" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$POD_IP/32" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default dev eth0
  ip netns exec "$NODE_NS" sysctl -qw "net.ipv4.conf.$veth.proxy_arp=1" "net.ipv4.neigh.$veth.proxy_delay=0"
  ip -n "$NODE_NS" link set "$veth" up
  ip -n "$NODE_NS" route add "$POD_IP/32" dev "$veth"
  local sock="$PODS/$POD_ID.sock"
  start "$PODS/$POD_ID.pid" "$LOGS/pod-$POD_ID.log" "$ns" "$BIN/tio-dp-agent" serve --control "$sock" --tcp "$TCP" --udp "$UDP" --sctp "$SCTP"
  local i
  # Alive judged from process state, not the command line (see ours); a loaded machine gets 10 s.
  for i in $(seq 1 200); do [ -S "$sock" ] && break; running "$(cat "$PODS/$POD_ID.pid")" || break; sleep 0.05; done
  [ -S "$sock" ] || { cat "$LOGS/pod-$POD_ID.log" >&2; die "the agent of pod $POD_ID did not start (log above)"; }
  echo "$sock"
}

pod_del() {
  [ -n "$POD_ID" ] || die "pod-del needs --id"
  stop_pid "$PODS/$POD_ID.pid"
  local ns="tio-$ID-$POD_ID"
  ip netns del "$ns" 2>/dev/null || true   # its veth (and so the node side) goes with it
  rm -f "$PODS/$POD_ID.sock"
  if [ -f "$RUN/netns" ]; then grep -vx "$ns" "$RUN/netns" >"$RUN/netns.new" || true; mv "$RUN/netns.new" "$RUN/netns"; fi
}

down_all() {
  local f ns
  stop_pid "$RUN/kube-router.pid"
  for f in "$PODS"/*.pid; do [ -e "$f" ] && stop_pid "$f"; done
  stop_pid "$RUN/bridge-node.pid"
  # Deleting the namespaces removes kube-router's iptables rules and ipsets with them.
  if [ -f "$RUN/netns" ]; then
    while read -r ns; do
      case "$ns" in "tio-$ID-"*) ip netns del "$ns" 2>/dev/null || true;; esac
    done <"$RUN/netns"
    rm -f "$RUN/netns"
  fi
  if [ -f "$DIR/kubeconfig" ] && [ -f "$RUN/node" ]; then
    # Only a kubectl already built: `down` must never start a build, nor stop early (set -e) without one.
    KUBECTL="${KUBECTL:-$(TIO_CACHED_ONLY=1 bash "$HERE/build-control-plane.sh" 2>/dev/null || true)/kubectl}"
    [ -x "$KUBECTL" ] && kubectl_ delete node "$NODE_NAME" --ignore-not-found >/dev/null 2>&1 || log "could not delete Node $NODE_NAME (cluster gone?)"
  fi
  stop_pid "$RUN/bridge-host.pid"
  rm -f "$RUN/node" "$RUN/apiserver.sock" "$PODS"/*.sock
}

status() {
  local pid f n=0
  if pid=$(ours "$RUN/kube-router.pid"); then echo "kube-router: running (pid $pid) in $NODE_NS, node $(cat "$RUN/node" 2>/dev/null)"; else echo "kube-router: stopped"; fi
  for f in "$PODS"/*.pid; do [ -e "$f" ] && ours "$f" >/dev/null && n=$((n + 1)); done
  echo "pods: $n agents running"
  local nns; nns=$(grep -c . "$RUN/netns" 2>/dev/null) || nns=0
  echo "network namespaces: $nns (tio-$ID-*)"
}

case "$cmd" in
  up) up;;
  pod-add) pod_add;;
  pod-del) pod_del;;
  down) down_all; log "down ($DIR kept: logs)";;
  status) status;;
esac
