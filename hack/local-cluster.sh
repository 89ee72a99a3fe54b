#!/usr/bin/env bash
# A real Kubernetes control plane on loopback: etcd + kube-apiserver + kube-controller-manager, built from
# pinned upstream Go modules by hack/build-control-plane.sh. What envtest does, without its download, plus
# the controller-manager so garbage collection and namespace deletion really happen.
#
#   hack/local-cluster.sh up     [--dir DIR]   start; returns when /readyz is OK; writes DIR/kubeconfig
#   hack/local-cluster.sh down   [--dir DIR]   stop exactly the processes `up` started in DIR
#   hack/local-cluster.sh status [--dir DIR]   show pids, ports and /readyz
#   hack/local-cluster.sh restart COMPONENT [--dir DIR]   stop and start one component with the same
#                                              flags (tests use it to break every watch for real)
#
# DIR defaults to ./.cluster. Ports are picked free at start, or fixed by ETCD_PORT / APISERVER_PORT.
# Differences from a production cluster (all deliberate, for a throw-away test cluster):
#   - etcd: one member, plain HTTP on 127.0.0.1, --unsafe-no-fsync (speed; data is disposable).
#   - kube-apiserver: --authorization-mode=RBAC only (no Node authorizer: there are no kubelets);
#     --endpoint-reconciler-type=none (the default/kubernetes Endpoints cannot hold a loopback address);
#     no audit log, no encryption at rest, no aggregation layer certificates; certificates from a
#     throw-away CA generated here, valid 30 days; no watch cache for PodTemplates (a kind nothing here
#     uses), so a watch from a compacted resourceVersion reaches etcd and gets 410 Gone for real (tests).
#   - kube-controller-manager: --leader-elect=false (single instance); only the controllers the operator's
#     behaviour depends on (garbage collector, namespace, service accounts and their tokens, root CA
#     publisher, ClusterRole aggregation, deployments and replica sets so a Deployment really makes Pods,
#     and the admission-policy status controller that type-checks CEL); --secure-port=0 (no serving
#     endpoint; liveness is checked through the work it does).
#   - no scheduler, no kubelet, no CNI: Pods are stored but never run, NetworkPolicies are stored and
#     validated but not enforced (enforcement is proven by the analyzer, not by a data plane).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cmd="${1:-}"; shift || true
COMPONENT=""
if [ "$cmd" = restart ]; then COMPONENT="${1:-}"; shift || true; fi
DIR="$REPO/.cluster"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="${2:?--dir needs a path}"; shift 2;;
    --dir=*) DIR="${1#--dir=}"; shift;;
    -h|--help) sed -n '2,26p' "$0"; exit 0;;
    *) echo "local-cluster: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done
mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
PKI="$DIR/pki"; LOGS="$DIR/logs"; RUN="$DIR/run"
COMPONENTS=(etcd kube-apiserver kube-controller-manager)

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { printf '[local-cluster] ERROR: %s\n' "$*" >&2; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$(( 15000 + RANDOM % 15000 ))   # below Linux's ephemeral range (32768+)
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found on 127.0.0.1 after 50 tries"
}
want_port() { # name, env value
  if [ -n "$2" ]; then port_in_use "$2" && die "port $2 for $1 is already in use on 127.0.0.1 (set another or unset it)"; echo "$2"
  else free_port; fi
}

# A pid belongs to us only if it is alive and its command line names this cluster's directory, so a
# recycled pid of an unrelated process is never signalled.
# /proc/PID/cmdline reads empty while the process is inside execve (start() execs twice: setsid, then
# the component) and for a zombie, so an empty read is retried briefly before the pid is disowned.
ours() { local pid cmd i; pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  for i in 1 2 3 4 5 6 7 8 9 10; do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [ -n "$cmd" ] && break; sleep 0.05
  done
  case "$cmd" in *"$DIR"*) echo "$pid";; *) return 1;; esac; }

# Is the process start() just launched still running? Judged from its state, not its command line (see
# above): gone or a zombie means it exited. Used while waiting for a component to become ready.
alive() { local pid st; pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || return 1
  case "${st%% *}" in ''|Z|X) return 1;; esac; }

gen_pki() {
  [ -f "$PKI/ca.crt" ] && return 0
  command -v openssl >/dev/null || die "openssl is required to generate the cluster's certificates"
  mkdir -p "$PKI"; cd "$PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=tio-local-ca" \
    -keyout ca.key -out ca.crt 2>/dev/null
  leaf() { # name, subject, extensions
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  leaf apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
  leaf admin "/O=system:masters/CN=tio-admin" "extendedKeyUsage=clientAuth"
  leaf controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key; cd - >/dev/null
}

kubeconfig() { # file, user, cert name
  local b64; b64() { base64 -w0 <"$1"; }
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(b64 "$PKI/$3.crt")
    client-key-data: $(b64 "$PKI/$3.key")
contexts:
- name: local
  context: {cluster: local, user: $2}
current-context: local
KC
  chmod 600 "$1"
}

start() { # name, args...
  local name="$1"; shift
  printf '%s\0' "$@" >"$RUN/$name.args"   # for `restart`
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

restart() {
  local c="$COMPONENT" pid i
  case "$c" in etcd|kube-apiserver|kube-controller-manager) ;; *) die "restart needs one of: ${COMPONENTS[*]}";; esac
  [ -f "$RUN/$c.args" ] || die "$c was never started in $DIR"
  # shellcheck disable=SC1091
  . "$RUN/ports"
  if pid=$(ours "$c"); then
    kill -TERM "$pid"; for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local args=(); mapfile -d '' args <"$RUN/$c.args"
  log "restarting $c"
  start "$c" "${args[@]}"
  case "$c" in
    etcd) wait_for etcd 30 curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health";;
    kube-apiserver) wait_for kube-apiserver 90 api /readyz;;
    kube-controller-manager) sleep 1; alive "$c" || die "kube-controller-manager exited on restart (log: $LOGS/$c.log)";;
  esac
  log "$c restarted"
}

# Wait for a check to pass while the component stays alive; a dead component ends the wait at once
# with the tail of its log (a port in use, a bad flag), never a hang.
wait_for() { # name, seconds, check...
  local name="$1" secs="$2"; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      [ -s "$LOGS/$name.log" ] || log "$name wrote nothing to its log"
      tail -15 "$LOGS/$name.log" >&2 || true
      stop_all; die "$name exited during start-up (log above, full log: $LOGS/$name.log)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { tail -15 "$LOGS/$name.log" >&2; stop_all; die "$name not ready after ${secs}s (log: $LOGS/$name.log)"; }
    sleep 0.2
  done
}

api() { curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$APISERVER_PORT$1"; }

stop_all() {
  local c pid i
  for c in kube-controller-manager kube-apiserver etcd; do
    pid=$(ours "$c") || { rm -f "$RUN/$c.pid"; continue; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/$c.pid"; log "stopped $c (pid $pid)"
  done
}

up() {
  local c running=0 healthy=1
  for c in "${COMPONENTS[@]}"; do if ours "$c" >/dev/null; then running=1; else healthy=0; fi; done
  if [ "$running" = 1 ]; then
    if [ "$healthy" = 1 ] && [ -f "$DIR/kubeconfig" ] && [ -f "$RUN/ports" ]; then
      # Every component runs: a slow /readyz (a loaded machine) is waited for, never torn down.
      # shellcheck disable=SC1091
      . "$RUN/ports"
      local deadline=$(( $(date +%s) + 60 ))
      while [ "$(date +%s)" -lt "$deadline" ]; do
        if api /readyz >/dev/null 2>&1; then log "already running in $DIR"; echo "$DIR/kubeconfig"; return 0; fi
        sleep 1
      done
      die "every component of $DIR runs but the apiserver is not ready after 60 s: see $LOGS, or '$0 down --dir $DIR' and up again"
    fi
    # Half up (an interrupted start, a component gone): start afresh rather than beside leftover processes.
    log "a partial cluster is running in $DIR: stopping it first"
    stop_all
  fi
  # A start that fails (or is interrupted) stops what it started: components run in their own sessions,
  # so nothing else would.
  trap 'stop_all' EXIT
  command -v curl >/dev/null || die "curl is required to probe the apiserver"
  local BIN; BIN="$("$HERE/build-control-plane.sh")" || die "building the control-plane binaries failed (see above)"
  mkdir -p "$LOGS" "$RUN"
  gen_pki
  ETCD_PORT=$(want_port etcd "${ETCD_PORT:-}")
  ETCD_PEER_PORT=$(want_port etcd-peer "${ETCD_PEER_PORT:-}")
  APISERVER_PORT=$(want_port kube-apiserver "${APISERVER_PORT:-}")
  printf 'ETCD_PORT=%s\nAPISERVER_PORT=%s\n' "$ETCD_PORT" "$APISERVER_PORT" >"$RUN/ports"
  rm -rf "$DIR/etcd-data"

  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  start etcd "$BIN/etcd" --name tio --data-dir "$DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "tio=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  log "starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --authorization-mode RBAC \
    --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --allow-privileged --profiling=false --watch-cache-sizes 'podtemplates#0' --v=1
  wait_for kube-apiserver 90 api /readyz

  kubeconfig "$DIR/kubeconfig" tio-admin admin
  kubeconfig "$DIR/controller-manager.kubeconfig" kube-controller-manager controller-manager
  log "starting kube-controller-manager"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$DIR/controller-manager.kubeconfig" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials --leader-elect=false --secure-port=0 \
    --controllers "garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,deployment-controller,replicaset-controller,validatingadmissionpolicy-status-controller" \
    --concurrent-gc-syncs 5 --v=1
  # The service-account controller creating default/default proves the controller-manager is working.
  wait_for kube-controller-manager 60 api /api/v1/namespaces/default/serviceaccounts/default
  trap - EXIT
  log "ready in $DIR (kubeconfig: $DIR/kubeconfig)"
  echo "$DIR/kubeconfig"
}

status() {
  local c pid any=0
  for c in "${COMPONENTS[@]}"; do
    if pid=$(ours "$c"); then echo "$c: running (pid $pid)"; any=1; else echo "$c: stopped"; fi
  done
  if [ "$any" = 1 ] && [ -f "$RUN/ports" ]; then
    # shellcheck disable=SC1091
    . "$RUN/ports"; echo "apiserver: https://127.0.0.1:$APISERVER_PORT readyz=$(api /readyz || echo failing)"
    echo "kubeconfig: $DIR/kubeconfig"
  fi
}

case "$cmd" in
  up) up;;
  down) stop_all; log "down ($DIR kept: logs and certificates)";;
  status) status;;
  restart) restart;;
  *) echo "usage: $0 up|down|status|restart COMPONENT [--dir DIR]" >&2; exit 2;;
esac
