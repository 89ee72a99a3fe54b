#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from their pinned upstream Go modules
# and caches them per version outside the clone. Prints the bin directory on stdout when done.
#
# Why a wrapper module: k8s.io/kubernetes requires its staging modules at v0.0.0 and points them at
# ./staging with replace directives, which `go install pkg@version` refuses. A small module of our own
# requires k8s.io/kubernetes and replaces each staging module with its published v0.<minor>.<patch>.
# etcd is built the same way through a three-line main that calls etcdmain.Main.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"      # Kubernetes release we test against
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"        # the etcd version that release pins (build/dependencies.yaml)
CACHE_ROOT="${TIO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tenant-isolation-operator}"
OUT="$CACHE_ROOT/control-plane-$KUBE_VERSION-etcd-$ETCD_VERSION"
BIN="$OUT/bin"
BINARIES=(kube-apiserver kube-controller-manager kubectl etcd)

log() { printf '[build-control-plane] %s\n' "$*" >&2; }
die() { printf '[build-control-plane] ERROR: %s\n' "$*" >&2; exit 1; }

have_all() { for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done; [ -f "$OUT/.complete" ]; }
if have_all; then log "cached: $BIN"; echo "$BIN"; exit 0; fi
# TIO_CACHED_ONLY=1: the cached binaries or nothing (cleanup paths must not start a build).
[ "${TIO_CACHED_ONLY:-}" != 1 ] || die "not built yet: $BIN"

command -v go >/dev/null 2>&1 || die "the Go toolchain (go) is not on PATH; install Go >= 1.26 (the version k8s.io/kubernetes $KUBE_VERSION requires)"
GOV=$(go env GOVERSION | sed 's/^go//')
case "$GOV" in 1.2[6-9]*|1.[3-9][0-9]*) ;; *) die "Go $GOV is too old: k8s.io/kubernetes $KUBE_VERSION needs Go >= 1.26 (set GOTOOLCHAIN or install a newer Go)";; esac

minor=${KUBE_VERSION#v1.}; STAGING_VERSION="v0.${minor}"       # v1.37.2 -> v0.37.2
major=1; kminor=${minor%%.*}
SRC="$OUT/src"
mkdir -p "$SRC/etcd" "$BIN"
lockfile="$OUT/.build.lock"
exec 9>"$lockfile"
if ! flock -n 9; then log "another build of $KUBE_VERSION is running; waiting for it"; flock 9; have_all && { echo "$BIN"; exit 0; }; fi

log "fetching k8s.io/kubernetes@$KUBE_VERSION to read its staging module list"
KDIR=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') \
  || die "could not download k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy ($(go env GOPROXY))"
[ -n "$KDIR" ] || die "go mod download gave no directory for k8s.io/kubernetes@$KUBE_VERSION"
mapfile -t STAGING < <(sed -n '/^replace (/,/^)/p' "$KDIR/go.mod" | sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging.*#\1#p')
[ "${#STAGING[@]}" -gt 20 ] || die "found only ${#STAGING[@]} staging modules in $KDIR/go.mod; the layout changed"
log "${#STAGING[@]} staging modules -> $STAGING_VERSION"

{
  echo "module tenant-isolation-operator.local/control-plane"
  echo
  echo "go $(sed -n 's/^go //p' "$KDIR/go.mod")"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $KUBE_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo ")"
  echo
  echo "replace ("
  for m in "${STAGING[@]}"; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} > "$SRC/go.mod"
cat > "$SRC/etcd/main.go" <<'GO'
// etcd's own main, built from the go.etcd.io/etcd/server/v3 module pinned by Kubernetes.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
cat > "$SRC/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO

cd "$SRC"
log "resolving modules (go mod tidy)"
go mod tidy >"$OUT/tidy.log" 2>&1 || { tail -20 "$OUT/tidy.log" >&2; die "go mod tidy failed (full log: $OUT/tidy.log)"; }
# Keep etcd at the version Kubernetes pins; tidy may not move it, but fail loudly if it did.
grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" go.mod || die "etcd server resolved to a version other than $ETCD_VERSION: $(grep etcd/server go.mod)"

date_now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LDF="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$kminor"
  LDF+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date_now"
done

log "compiling ${BINARIES[*]} with $(nproc) cores; the first build takes several minutes (progress: packages compiled)"
start=$(date +%s)
# A rebuild is incomplete until it says so: no .complete (the unlocked fast path above) and no exit
# status of an earlier build to read if this one is interrupted.
rm -f "$OUT/.complete" "$OUT/build.rc"
( CGO_ENABLED=0 go build -v -trimpath -ldflags "$LDF" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl ./etcd >"$OUT/build.log" 2>&1; echo $? >"$OUT/build.rc" ) &
bpid=$!
# Interrupted: stop go build too (not only its subshell), and stop here.
trap 'pkill -P $bpid 2>/dev/null; kill $bpid 2>/dev/null; exit 130' INT TERM
while kill -0 $bpid 2>/dev/null; do
  sleep 15
  log "  $(( $(date +%s) - start ))s, $(wc -l <"$OUT/build.log") packages"
done
wait $bpid || true
rc=$(cat "$OUT/build.rc" 2>/dev/null || echo 1)
[ "$rc" = 0 ] || { grep -v '^[a-z0-9./_-]*$' "$OUT/build.log" | tail -30 >&2; die "go build failed with status $rc (full log: $OUT/build.log)"; }
mv "$BIN/etcd" "$BIN/etcd.tmp" 2>/dev/null && mv "$BIN/etcd.tmp" "$BIN/etcd"
for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || die "build finished but $BIN/$b is missing"; done
"$BIN/kube-apiserver" --version | grep -q "$KUBE_VERSION" || die "kube-apiserver does not report $KUBE_VERSION"
echo "$KUBE_VERSION built in $(( $(date +%s) - start ))s on $(nproc) cores" > "$OUT/.complete"
log "done in $(( $(date +%s) - start ))s: $BIN ($(du -sh "$OUT" | cut -f1) incl. sources)"
echo "$BIN"
