#!/usr/bin/env bash
# Build the Lightning DB image without network: the build stage's image is
# made from this machine's Go toolchain (GOROOT), busybox-static's shell and
# the CA certificates, and the Go module and build caches are mounted, so
# the Dockerfile builds the same as with the golang image.
#
#   deploy/container/build-offline.sh [TAG]      # default lightning-db:dev
#
# Needs podman (or buildah), Go, /bin/busybox (Debian busybox-static) and the
# modules in the module cache (go mod download). Runs as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-lightning-db:dev}
builder=localhost/lightningdb-go-builder:$(go env GOVERSION)
goroot=$(go env GOROOT)
busybox=${BUSYBOX:-/bin/busybox}
certs=/etc/ssl/certs/ca-certificates.crt
for f in "$goroot/bin/go" "$busybox" "$certs"; do
  [ -e "$f" ] || { echo "build-offline: $f missing" >&2; exit 2; }
done

if ! podman image exists "$builder"; then
  c=$(buildah from scratch)
  trap 'buildah rm "$c" >/dev/null' EXIT
  buildah copy "$c" "$goroot" /usr/local/go >/dev/null
  buildah copy "$c" "$busybox" /bin/busybox >/dev/null
  buildah copy "$c" "$certs" /etc/ssl/certs/ca-certificates.crt >/dev/null
  for cmd in sh mkdir cp echo cat ls rm mv chmod chown ln env; do
    buildah run --isolation chroot "$c" -- /bin/busybox ln -s /bin/busybox /bin/$cmd
  done
  buildah config --env PATH=/usr/local/go/bin:/go/bin:/bin --env GOPATH=/go \
    --env GOCACHE=/root/.cache/go-build --env HOME=/root "$c"
  buildah run --isolation chroot "$c" -- /bin/busybox mkdir -p /tmp /root/.cache/go-build /go/pkg/mod
  buildah commit --rm "$c" "$builder" >/dev/null
  trap - EXIT
fi

podman build --isolation chroot --format docker --layers=false \
  --build-arg GO_IMAGE="$builder" --build-arg GOPROXY=off --build-arg GOFLAGS=-mod=mod \
  --build-arg VERSION="$(git describe --always --dirty 2>/dev/null || echo dev)" \
  -v "$(go env GOMODCACHE)":/go/pkg/mod:ro \
  -v "$(go env GOCACHE)":/root/.cache/go-build \
  -t "$tag" .
