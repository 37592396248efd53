#!/usr/bin/env bash
# Builds the container image from the Dockerfile with a binary that is already built, and runs
# it: without keys it must refuse to start (APP_ENV=production) and leave nothing in /data;
# with them it must answer /readyz and pass its HEALTHCHECK.
#
# This machine has no Docker daemon and no registry: podman (Debian's package) builds and runs
# the image, and the base image docker.io/library/debian:bookworm-slim is made locally with
# debootstrap from Debian's mirror (cached in ~/.cache/targetym-image). The Dockerfile's Rust
# build stage is skipped (BINARY_FROM=prebuilt): the binary given here is copied in instead.
# Usage: deploy/image-test.sh <path to the built targetym-integrations binary>
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$(realpath "${1:?usage: $0 <targetym-integrations binary>}")"
image=localhost/targetym-integrations:ci
base=docker.io/library/debian:bookworm-slim
cache="$HOME/.cache/targetym-image"
ctr=targetym-image-test-$$
vol=targetym-image-test-$$

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
# crun (podman's default) refuses this machine's hybrid cgroup hierarchy; runc accepts it.
# Without CAP_SYS_RESOURCE podman's default rlimits cannot be set, so set ones within ours.
podman=(podman --runtime runc)
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=8192:8192)

if ! podman image exists "$base"; then
  if [ ! -s "$cache/bookworm-minbase.tar" ]; then
    mkdir -p "$cache"
    rootfs="$(mktemp -d)"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" -cf "$cache/bookworm-minbase.tar.part" .
    mv "$cache/bookworm-minbase.tar.part" "$cache/bookworm-minbase.tar"
    rm -rf "$rootfs"
  fi
  podman import -q "$cache/bookworm-minbase.tar" "$base" >/dev/null
fi

context="$(mktemp -d)"
cleanup() {
  "${podman[@]}" rm -f "$ctr" >/dev/null 2>&1 || true
  podman volume rm -f "$vol" >/dev/null 2>&1 || true
  # The image and its build's intermediate images each hold a copy of the binary (hundreds
  # of MB): the ones this run made are removed.
  comm -13 <(printf '%s\n' "$images_before" | sort) <(podman images -aq --no-trunc | sort -u) \
    | xargs -r podman rmi -f >/dev/null 2>&1 || true
  rm -rf "$context"
}
images_before="$(podman images -aq --no-trunc | sort -u)"
trap cleanup EXIT
cp Dockerfile "$context/"
cp "$binary" "$context/targetym-integrations"
# chroot isolation: RUN steps need no OCI runtime (see above). Docker format keeps HEALTHCHECK.
podman build -q --isolation chroot --pull=never --format docker \
  --build-arg BINARY_FROM=prebuilt -t "$image" "$context" >/dev/null
echo "built $image"
[ "$(podman image inspect "$image" --format '{{.Config.User}}')" = "targetym:targetym" ]
podman image inspect "$image" --format '{{json .Config.Healthcheck}}' | grep -q '"targetym-integrations","healthcheck"'

# 1. Production without keys: refuses to start, names the variable, generates nothing.
podman volume create "$vol" >/dev/null
set +e
out="$("${podman[@]}" run --rm "${limits[@]}" -v "$vol:/data" \
  -e PUBLIC_URL=https://hub.example.com "$image" 2>&1)"
rc=$?
set -e
if [ "$rc" -eq 0 ] || ! grep -q 'requires INTEGRATION_ENCRYPTION_KEY' <<<"$out"; then
  printf 'expected a refusal naming INTEGRATION_ENCRYPTION_KEY, got exit %s:\n%s\n' "$rc" "$out" >&2
  exit 1
fi
left="$("${podman[@]}" run --rm "${limits[@]}" -v "$vol:/data" --entrypoint ls "$image" -A /data)"
[ -z "$left" ] || { echo "a refused start left files in /data: $left" >&2; exit 1; }
echo "without keys: refused (exit $rc) and /data stays empty"

# 2. With keys: serves on its port, as the image's user, its database in the volume.
"${podman[@]}" run -d --name "$ctr" "${limits[@]}" -v "$vol:/data" -p 127.0.0.1::8080 \
  -e PUBLIC_URL=https://hub.example.com \
  -e INTEGRATION_ENCRYPTION_KEY="$(openssl rand -hex 32)" -e SESSION_KEY="$(openssl rand -hex 64)" \
  "$image" >/dev/null
port="$(podman port "$ctr" 8080/tcp | sed 's/.*://')"
ready=""
for _ in $(seq 1 60); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; then
    ready=yes
    break
  fi
  sleep 1
done
[ -n "$ready" ] || { podman logs "$ctr" >&2; echo "/readyz never answered 200" >&2; exit 1; }
[ "$("${podman[@]}" exec "$ctr" id -u)" = 10001 ]
"${podman[@]}" exec "$ctr" test -s /data/targetym.sqlite3
echo "with keys: /readyz answers 200 on port $port, uid 10001, database in /data"

# 3. The HEALTHCHECK: the binary's `healthcheck` subcommand.
"${podman[@]}" healthcheck run "$ctr"
status="$(podman inspect "$ctr" --format '{{.State.Health.Status}}')"
[ "$status" = healthy ] || { echo "health status: $status" >&2; exit 1; }
echo "HEALTHCHECK passes: healthy"
