#!/usr/bin/env bash
# Builds the test dataplane's two programs and caches them outside the clone; prints their bin directory.
#  - kube-router, the network policy controller, from its pinned upstream Go module (`go install
#    module@version`: its go.mod has no replace directives, so no wrapper module is needed).
#  - tio-dp-agent, our pod listener/prober and unix-socket bridge (hack/dataplane/agent, standard library
#    only), cached by a hash of its source so an edit rebuilds it.
# Running the dataplane also needs root and the Debian packages iptables, ipset and iproute2:
# `bash hack/dataplane.sh check` says what is missing.
set -euo pipefail

KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AGENT_SRC="$HERE/dataplane/agent"
CACHE_ROOT="${TIO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tenant-isolation-operator}"

log() { printf '[build-dataplane] %s\n' "$*" >&2; }
die() { printf '[build-dataplane] ERROR: %s\n' "$*" >&2; exit 1; }

AGENT_HASH="$(cat "$AGENT_SRC/go.mod" "$AGENT_SRC"/*.go | sha256sum | cut -c1-12)"
KR_OUT="$CACHE_ROOT/kube-router-$KUBE_ROUTER_VERSION"
OUT="$CACHE_ROOT/dataplane-$KUBE_ROUTER_VERSION-agent-$AGENT_HASH"
BIN="$OUT/bin"
if [ -x "$BIN/kube-router" ] && [ -x "$BIN/tio-dp-agent" ] && [ -f "$OUT/.complete" ]; then log "cached: $BIN"; echo "$BIN"; exit 0; fi

command -v go >/dev/null 2>&1 || die "the Go toolchain (go) is not on PATH; install Go >= 1.26 to build kube-router $KUBE_ROUTER_VERSION and tio-dp-agent"
mkdir -p "$KR_OUT/bin" "$BIN"
exec 9>"$CACHE_ROOT/.dataplane-build.lock"
if ! flock -n 9; then log "another dataplane build is running; waiting for it"; flock 9; fi

if [ ! -x "$KR_OUT/bin/kube-router" ] || [ ! -f "$KR_OUT/.complete" ]; then
  log "building github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION (first build: several minutes)"
  start=$(date +%s)
  rm -f "$KR_OUT/.complete" "$OUT/.complete" # a rebuild is incomplete until it says so
  GOBIN="$KR_OUT/bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION" >"$KR_OUT/build.log" 2>&1 \
    || { tail -20 "$KR_OUT/build.log" >&2; die "go install kube-router@$KUBE_ROUTER_VERSION failed (full log: $KR_OUT/build.log; the module proxy is $(go env GOPROXY))"; }
  go version -m "$KR_OUT/bin/kube-router" | grep -Eq "^\s+mod\s+github.com/cloudnativelabs/kube-router/v2\s+$KUBE_ROUTER_VERSION\b" \
    || die "the built kube-router does not carry module version $KUBE_ROUTER_VERSION ($(go version -m "$KR_OUT/bin/kube-router" | grep -E '^\s+mod'))"
  echo "kube-router $KUBE_ROUTER_VERSION built in $(( $(date +%s) - start ))s" >"$KR_OUT/.complete"
fi

log "building tio-dp-agent ($AGENT_HASH)"
rm -f "$OUT/.complete"
(cd "$AGENT_SRC" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$BIN/tio-dp-agent.tmp" .) \
  || die "building tio-dp-agent from $AGENT_SRC failed"
mv "$BIN/tio-dp-agent.tmp" "$BIN/tio-dp-agent"
ln -sf "$KR_OUT/bin/kube-router" "$BIN/kube-router"
"$BIN/tio-dp-agent" version >/dev/null || die "the built tio-dp-agent does not run"
date -u +%Y-%m-%dT%H:%M:%SZ >"$OUT/.complete"
log "done: $BIN"
echo "$BIN"
