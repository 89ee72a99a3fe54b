#!/usr/bin/env bash
# Builds the tools the tests drive, from their pinned upstream Go modules, once, and caches each per
# version outside the clone (like hack/build-control-plane.sh):
#   helm      helm.sh/helm/v4/cmd/helm                  the chart's lint/template/install/upgrade tests
#   promtool  github.com/prometheus/prometheus/cmd/promtool   unit tests of the alerting rules
# Usage: hack/build-tools.sh [helm|promtool ...]   (no argument: all). Prints one binary path per line,
# in the order asked. Both modules carry no replace directives, so `go install pkg@version` builds them.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
# Prometheus tags its Go module v0.<minor*100+...>: v0.316.0 is Prometheus v3.16.0.
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
CACHE_ROOT="${TIO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tenant-isolation-operator}"

log() { printf '[build-tools] %s\n' "$*" >&2; }
die() { printf '[build-tools] ERROR: %s\n' "$*" >&2; exit 1; }

# tool -> "module-path package version"
spec() {
  case "$1" in
    helm) echo "helm.sh/helm/v4 helm.sh/helm/v4/cmd/helm $HELM_VERSION" ;;
    promtool) echo "github.com/prometheus/prometheus github.com/prometheus/prometheus/cmd/promtool $PROMETHEUS_VERSION" ;;
    *) return 1 ;;
  esac
}

ldflags() {
  local tool=$1 version=$2
  case "$tool" in
    helm) echo "-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ;;
    promtool)
      local v=${version#v0.}; local minor=$(( ${v%%.*} - 300 )); local patch=${v#*.}
      echo "-s -w -X github.com/prometheus/common/version.Version=3.$minor.$patch -X github.com/prometheus/common/version.Branch=release" ;;
  esac
}

build() {
  local tool=$1 module pkg version
  read -r module pkg version < <(spec "$tool") || die "unknown tool '$tool' (known: helm, promtool)"
  local out="$CACHE_ROOT/$tool-$version" bin="$CACHE_ROOT/$tool-$version/bin/$tool"
  if [ -x "$bin" ] && [ -f "$out/.complete" ]; then log "cached: $bin"; echo "$bin"; return; fi

  command -v go >/dev/null 2>&1 || die "the Go toolchain (go) is not on PATH; install Go >= 1.26 to build $tool from $module@$version"
  mkdir -p "$out/bin"
  exec 8>"$out/.build.lock"
  if ! flock -n 8; then
    log "another build of $tool $version is running; waiting for it"; flock 8
    if [ -x "$bin" ] && [ -f "$out/.complete" ]; then echo "$bin"; exec 8>&-; return; fi
  fi
  log "building $tool from $module@$version (first time only; a few minutes on 2 cores)"
  local start; start=$(date +%s)
  rm -f "$out/.complete" # a rebuild is incomplete until it says so (the unlocked check above)
  # remove_all_sd: Prometheus's own build tag that leaves out every service-discovery plugin (dozens of
  # cloud SDKs); promtool's rule checks and unit tests need none of them.
  local tags=netgo; [ "$tool" = promtool ] && tags=netgo,remove_all_sd
  # GOFLAGS=-mod=mod: a module-aware install that ignores any go.work or vendor dir of the caller.
  if ! (cd "$out" && CGO_ENABLED=0 GOBIN="$out/bin" GOFLAGS=-mod=mod go install -trimpath -tags "$tags" \
        -ldflags "$(ldflags "$tool" "$version")" "$pkg@$version" >"$out/build.log" 2>&1); then
    tail -20 "$out/build.log" >&2
    if grep -Eq 'reading .*: (403|404|410)|unknown revision|invalid version|not available' "$out/build.log"; then
      die "could not download $module@$version from the Go module proxy ($(go env GOPROXY)); is the version right?"
    fi
    die "go install $pkg@$version failed (full log: $out/build.log)"
  fi
  [ -x "$bin" ] || die "build finished but $bin is missing"
  "$bin" --version >/dev/null 2>&1 || "$bin" version >/dev/null 2>&1 || die "$bin does not run"
  echo "$tool $version built in $(( $(date +%s) - start ))s on $(nproc) cores" > "$out/.complete"
  log "$(cat "$out/.complete"): $bin"
  exec 8>&-
  echo "$bin"
}

tools=("$@")
[ "${#tools[@]}" -gt 0 ] || tools=(helm promtool)
for t in "${tools[@]}"; do spec "$t" >/dev/null || die "unknown tool '$t' (known: helm, promtool)"; done
for t in "${tools[@]}"; do build "$t"; done
