#!/usr/bin/env bash
# Build (once per machine) the Kubernetes binaries pack's tests run: fetch Debian's
# `kubernetes` source package, swap in Debian's reflect2/json-iterator (the vendored
# reflect2 1.0.1 panics under Go 1.19), build with Debian's Go, build the pause binary,
# and publish all five into the versioned cache with one rename (never half a cache).
# Usage: build.sh CACHE_DIR VERSION MIRROR
set -euo pipefail

cache=$1 version=$2 mirror=$3
bin="$cache/bin"
work="$cache/work"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { printf '[test-cluster build] %s\n' "$*" >&2; }

if [[ -x "$bin/kubelet" && -x "$bin/pause" ]]; then
    exit 0
fi

# Fetch the source with a private apt config: the machine's own sources and lists stay untouched.
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$cache/source"
printf 'deb-src %s bookworm main\n' "$mirror" >"$apt_dir/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
dsc_name="kubernetes_${version#*:}.dsc"
if [[ ! -f "$cache/source/$dsc_name" ]]; then
    log "fetching kubernetes=$version source from $mirror"
    apt-get "${apt_opts[@]}" update >&2
    rm -rf "$work/dl" && mkdir -p "$work/dl"
    (cd "$work/dl" && apt-get "${apt_opts[@]}" source --download-only "kubernetes=$version" >&2)
    # Archives first, the .dsc last: a present .dsc means a complete download.
    find "$work/dl" -maxdepth 1 -type f ! -name '*.dsc' -exec mv -t "$cache/source" {} +
    mv "$work/dl/$dsc_name" "$cache/source/$dsc_name"
fi

src="$work/src"
rm -rf "$src"
log "unpacking"
dpkg-source -x "$cache/source/$dsc_name" "$src" >&2

# The one patch: Debian's reflect2 1.0.2 and json-iterator 1.1.12 instead of the vendored copies.
gocode=/usr/share/gocode/src/github.com
for pkg in modern-go/reflect2 json-iterator/go; do
    [[ -d "$gocode/$pkg" ]] || { echo "test-cluster: $gocode/$pkg missing (apt-get install golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev)" >&2; exit 1; }
    rm -rf "$src/vendor/github.com/$pkg"
    cp -rL "$gocode/$pkg" "$src/vendor/github.com/$pkg"
    rm -f "$src/vendor/github.com/$pkg/go.mod" "$src/vendor/github.com/$pkg/go.sum"
done

# hack/lib/golang.sh places binaries with `rsync -pc SRC DEST`; without rsync, cp -p does that.
shim="$work/shim"
mkdir -p "$shim"
if ! command -v rsync >/dev/null; then
    printf '#!/bin/sh\nwhile [ "${1#-}" != "$1" ]; do shift; done\nexec cp -p "$@"\n' >"$shim/rsync"
    chmod +x "$shim/rsync"
fi

mkdir -p "$src/.go/src/k8s.io"
ln -sfn "$src" "$src/.go/src/k8s.io/kubernetes"
log "building ${binaries[*]} (about 5 min on 2 cores)"
(
    cd "$src"
    export CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=vendor GOPATH="$src/.go" GOCACHE="$work/gocache"
    export PATH="/usr/lib/go-1.19/bin:$shim:$PATH"
    # Without a .git the version would read v0.0.0; say what this tree is.
    export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet" >&2
)
log "building pause"
gcc -Os -static -o "$work/pause" "$src/build/pause/linux/pause.c"

tmp="$cache/bin.tmp.$$"
rm -rf "$cache"/bin.tmp.* && mkdir -p "$tmp"
for b in "${binaries[@]}"; do
    cp "$src/_output/local/bin/linux/amd64/$b" "$tmp/$b" 2>/dev/null || cp "$src/_output/bin/$b" "$tmp/$b"
done
cp "$work/pause" "$tmp/pause"
chmod 0755 "$tmp"/*
rm -rf "$bin"
mv "$tmp" "$bin"
# The tree and Go cache are ~GBs; the binaries and source archives are what a rebuild needs.
rm -rf "$work"
log "cached in $bin"
