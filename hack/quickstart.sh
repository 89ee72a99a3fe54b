#!/usr/bin/env bash
# The README's first command: local control plane -> CRD -> operator -> samples -> what it did.
# Leaves the cluster and the operator running; `bash hack/quickstart.sh down` stops both.
# `--helm` installs with the Helm chart instead (CRD, RBAC, Deployment: stored, but no kubelet runs it on
# this control plane) and runs the operator here as the chart's ServiceAccount, so only the chart's RBAC
# lets it work.
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

HELM=""
case "${1:-}" in
  --helm) HELM="$(bash "$HERE/build-tools.sh" helm)" ;;
  "") ;;
  *) echo "usage: bash hack/quickstart.sh [--helm | down]" >&2; exit 2 ;;
esac
[ -x node_modules/.bin/node ] || npm ci --no-audit --no-fund
KUBECONFIG="$(bash "$HERE/local-cluster.sh" up --dir "$DIR" | tail -1)"
export KUBECONFIG
BIN="$(bash "$HERE/build-control-plane.sh")"
kubectl() { "$BIN/kubectl" "$@"; }

OPERATOR_KUBECONFIG="$KUBECONFIG"
if [ -n "$HELM" ]; then
  echo "== helm install tenant-isolation-operator charts/tenant-isolation-operator -n tenant-isolation-system"
  "$HELM" upgrade --install tenant-isolation-operator charts/tenant-isolation-operator --namespace tenant-isolation-system \
    --create-namespace --kubeconfig "$KUBECONFIG" | sed -n '/^STATUS/p;/^REVISION/p'
  kubectl wait --for condition=Established crd/tenantisolations.isolation.tenancy.dev crd/isolationprofiles.isolation.tenancy.dev crd/isolationbaselines.isolation.tenancy.dev --timeout=60s >/dev/null
  # The operator's identity: the chart's ServiceAccount, through a kubeconfig holding only its token.
  OPERATOR_KUBECONFIG="$DIR/operator.kubeconfig"
  kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$DIR/operator-ca.crt"
  KUBECONFIG="$OPERATOR_KUBECONFIG" kubectl config set-cluster local --server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')" \
    --certificate-authority="$DIR/operator-ca.crt" --embed-certs >/dev/null
  KUBECONFIG="$OPERATOR_KUBECONFIG" kubectl config set-credentials operator \
    --token="$(kubectl create token tenant-isolation-operator -n tenant-isolation-system --duration=24h)" >/dev/null
  KUBECONFIG="$OPERATOR_KUBECONFIG" kubectl config set-context operator --cluster=local --user=operator >/dev/null
  KUBECONFIG="$OPERATOR_KUBECONFIG" kubectl config use-context operator >/dev/null
  chmod 600 "$OPERATOR_KUBECONFIG"
else
  echo "== installing the CRDs"
  kubectl apply --server-side -f crds/ >/dev/null
  kubectl wait --for condition=Established crd/tenantisolations.isolation.tenancy.dev crd/isolationprofiles.isolation.tenancy.dev crd/isolationbaselines.isolation.tenancy.dev --timeout=60s >/dev/null
fi

echo "== starting the operator (log: $DIR/logs/operator.log)"
if [ -f "$DIR/operator.pid" ] && kill -0 "$(cat "$DIR/operator.pid")" 2>/dev/null; then
  echo "   already running (pid $(cat "$DIR/operator.pid"))"
else
  # Plain-HTTP metrics on loopback for this demo (--metrics-secure=false); deployed, they are HTTPS.
  setsid node src/cli/main.ts run --kubeconfig "$OPERATOR_KUBECONFIG" --metrics-secure=false --metrics-bind-address 127.0.0.1:18080 \
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
