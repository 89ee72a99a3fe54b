#!/usr/bin/env bash
# The README's first command: local control plane -> CRD -> operator -> samples -> what it did.
# Leaves the cluster and the operator running; `bash hack/quickstart.sh down` stops both.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
DIR="$REPO/.cluster"
cd "$REPO"
export PATH="$REPO/node_modules/.bin:$PATH"

if [ "${1:-}" = down ]; then
  if [ -f "$DIR/operator.pid" ]; then kill "$(cat "$DIR/operator.pid")" 2>/dev/null || true; rm -f "$DIR/operator.pid"; fi
  exec bash "$HERE/local-cluster.sh" down --dir "$DIR"
fi

[ -x node_modules/.bin/node ] || npm ci --no-audit --no-fund
KUBECONFIG="$(bash "$HERE/local-cluster.sh" up --dir "$DIR" | tail -1)"
export KUBECONFIG
BIN="$(bash "$HERE/build-control-plane.sh")"
kubectl() { "$BIN/kubectl" "$@"; }

echo "== installing the CRD"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for condition=Established crd/tenantisolations.isolation.tenancy.dev --timeout=60s >/dev/null

echo "== starting the operator (log: $DIR/logs/operator.log)"
if [ -f "$DIR/operator.pid" ] && kill -0 "$(cat "$DIR/operator.pid")" 2>/dev/null; then
  echo "   already running (pid $(cat "$DIR/operator.pid"))"
else
  setsid node src/cli/main.ts run --kubeconfig "$KUBECONFIG" --metrics-bind-address 127.0.0.1:18080 \
    --health-probe-bind-address 127.0.0.1:18081 >"$DIR/logs/operator.log" 2>&1 </dev/null &
  echo $! >"$DIR/operator.pid"
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/readyz >/dev/null && break; sleep 0.1; done
  curl -sf http://127.0.0.1:18081/readyz >/dev/null || { tail -20 "$DIR/logs/operator.log"; echo "operator did not become ready" >&2; exit 1; }
fi

echo "== applying config/samples (two tenants, a Helm-style namespace, a shared-services namespace)"
kubectl apply -k config/samples
sleep 2

echo; echo "== kubectl get tenantisolations"
kubectl get tenantisolations
echo; echo "== status of acme"
sleep 1
kubectl get ti acme -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}{range .status.namespaces[*]}  {.name}: {.state} - {.message}{"\n"}{end}'
echo; echo "== status of globex"
kubectl get ti globex -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}{range .status.namespaces[*]}  {.name}: {.state} - {.message}{"\n"}{end}'
echo; echo "== managed NetworkPolicies"
kubectl get networkpolicies -A -l app.kubernetes.io/managed-by=tenant-isolation-operator
echo; echo "== intra-tenant peers of acme-web"
kubectl get networkpolicy -n acme-web tenant-isolation-allow-intra-tenant -o jsonpath='{.spec.ingress[0].from[0].namespaceSelector}{"\n"}'
echo; echo "== tenant-isolation verify (what the cluster actually allows on TCP/8080)"
node src/cli/main.ts verify --kubeconfig "$KUBECONFIG" --port 8080 || echo "(verify exit status $?: 1 means a breach exists)"
echo; echo "== events"
kubectl get events -n default --field-selector involvedObject.kind=TenantIsolation --sort-by=.lastTimestamp | tail -12
cat <<MSG

The cluster and operator keep running. Try:
  export KUBECONFIG=$KUBECONFIG; alias kubectl=$BIN/kubectl
  kubectl delete networkpolicy -n acme-web tenant-isolation-default-deny   # restored within a second
  kubectl label ns shared-services tenant=acme                              # joins acme
  curl -s 127.0.0.1:18080/metrics | grep tenant_isolation
Stop everything: bash hack/quickstart.sh down
MSG
