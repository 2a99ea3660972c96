#!/usr/bin/env bash
# Runs the OCI image built by build-image.sh and drives requests through it, proving nothing outside the image is
# needed. Default: unpacks the image's layers (read from the archive: index.json → manifest → layers) into a fresh
# root, then runs its entrypoint under chroot as the image's user (65532) with only the image's environment (env -i),
# and (a) drives one ext_proc request over plaintext gRPC with the smoke client, (b) completes a TLS handshake (ALPN h2)
# against the default self-signed listener, which loads the image's libssl. Needs root (chroot, mounting /proc).
# IMAGE_RUNTIME=podman: `podman load` + `podman run --network host` instead, with the same two checks and the log
# check through `podman logs`. Where podman is missing or cannot run a container (this sandbox: crun's setrlimit is
# refused), the script says so with podman's own error and exits 0 as SKIPPED: the default chroot path covers the image.
#
# usage: run-image-test.sh <image .tar> <smoke client dll>
set -euo pipefail
IMAGE=$(readlink -f "$1") SMOKE=$(readlink -f "$2")
port=$((20000 + RANDOM % 20000))
EPP_ARGS=(--endpoints 10.0.0.1:8000,10.0.0.2:8000 --secure-serving=false --grpc-port $port --grpc-health-port $((port + 1))
  --metrics-port $((port + 2)) --tracing=false)
TLS_ARGS=(--endpoints 10.0.0.1:8000 --grpc-port $((port + 3)) --grpc-health-port $((port + 4)) --metrics-port $((port + 5)) --tracing=false)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for m in proc sys; do if mountpoint -q "$WORK/root/$m" 2>/dev/null; then umount "$WORK/root/$m" || true; fi; done
  rm -rf "$WORK"
}
trap cleanup EXIT

json_field() { sed -E 's/.*"'"$1"'":"([^"]*)".*/\1/'; }

RUNTIME=${IMAGE_RUNTIME:-chroot}
case $RUNTIME in chroot|podman) ;; *) echo "IMAGE_RUNTIME must be chroot or podman, not '$RUNTIME'" >&2; exit 2 ;; esac
skip() { echo "image run test (podman): SKIPPED — $1. The default path (IMAGE_RUNTIME=chroot, root) runs the image here." >&2; exit 0; }

if [ "$RUNTIME" = podman ]; then
  command -v podman >/dev/null || skip "podman is not installed (apt-get install podman)"
  ref=$(podman load -q -i "$IMAGE" | sed -E 's/^Loaded image[s]?\(?s?\)?: *//' | tail -n 1)
  # Can this machine run a container at all? The image's own binary answers --help and exits 0, so the probe needs
  # no other image and no network.
  if ! probe=$(podman run --rm --network host "$ref" --help 2>&1); then
    skip "podman cannot run a container here: $(grep -v '^\s*$' <<<"$probe" | grep -iv 'usage\|^  -' | tail -n 1)"
  fi
  podman_cleanup() { podman rm -f "fastepp-test-$port" "fastepp-test-tls-$port" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
  trap podman_cleanup EXIT
  podman run -d --network host --name "fastepp-test-$port" "$ref" "${EPP_ARGS[@]}" >/dev/null
  podman run -d --network host --name "fastepp-test-tls-$port" "$ref" "${TLS_ARGS[@]}" >/dev/null
  echo "image: $ref under podman ($(podman image inspect --format '{{.Config.User}} {{.Config.Entrypoint}}' "$ref"))" >&2
else
  [ "$(id -u)" = 0 ] || { echo "run-image-test.sh needs root for chroot (or IMAGE_RUNTIME=podman)" >&2; exit 1; }
  mkdir -p "$WORK/oci" "$WORK/root"
  tar -xf "$IMAGE" -C "$WORK/oci"
  manifest=$(json_field digest < "$WORK/oci/index.json" | sed 's/^sha256://')
  config=$(grep -oE '"config":\{[^}]*\}' "$WORK/oci/blobs/sha256/$manifest" | json_field digest | sed 's/^sha256://')
  for layer in $(grep -oE '"layers":\[.*\]' "$WORK/oci/blobs/sha256/$manifest" | grep -oE 'sha256:[0-9a-f]{64}' | sed 's/^sha256://'); do
    tar -xzf "$WORK/oci/blobs/sha256/$layer" -C "$WORK/root"
  done
  cfg=$(cat "$WORK/oci/blobs/sha256/$config")
  user=$(json_field User <<<"$cfg")
  entrypoint=$(grep -oE '"Entrypoint":\["[^"]*' <<<"$cfg" | sed -E 's/.*\["//')
  mapfile -t envs < <(grep -oE '"Env":\[[^]]*\]' <<<"$cfg" | sed -E 's/"Env":\[//; s/\]$//' | tr ',' '\n' | sed -E 's/^"//; s/"$//')
  echo "image: user $user, entrypoint $entrypoint, env ${envs[*]}, $(du -sh "$WORK/root" | cut -f1) unpacked" >&2
  if [ -e "$WORK/root/bin/sh" ] || [ -e "$WORK/root/usr/bin/sh" ]; then echo "the image has a shell" >&2; exit 1; fi
  # What every OCI runtime provides inside a container (runtime-spec: /proc, sysfs, the default devices); the image
  # itself ships empty /proc, /sys and /dev. .NET reads /dev/urandom (hash seeds) and cgroup limits under /sys.
  mount -t proc proc "$WORK/root/proc"
  mount -t sysfs -o ro sysfs "$WORK/root/sys" 2>/dev/null || mount --bind -o ro /sys "$WORK/root/sys"
  for dev in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9; do
    IFS=: read -r name major minor <<<"$dev"; mknod -m 666 "$WORK/root/dev/$name" c "$major" "$minor"
  done
  env -i "${envs[@]}" chroot --userspec="$user" "$WORK/root" "$entrypoint" "${EPP_ARGS[@]}" >"$WORK/epp.log" 2>&1 &
  PIDS+=($!)
  env -i "${envs[@]}" chroot --userspec="$user" "$WORK/root" "$entrypoint" "${TLS_ARGS[@]}" >"$WORK/epp-tls.log" 2>&1 &
  PIDS+=($!)
fi

rc=0
dotnet "$SMOKE" smoke --target 127.0.0.1:$port --health 127.0.0.1:$((port + 1)) --expect 10.0.0.1:8000,10.0.0.2:8000 || rc=$?
if [ "$RUNTIME" = podman ]; then
  podman logs "fastepp-test-$port" >"$WORK/epp.log" 2>&1 || true
  podman logs "fastepp-test-tls-$port" >"$WORK/epp-tls.log" 2>&1 || true
fi
{
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$((port + 3))) 2>/dev/null; then break; fi
    sleep 0.1
  done
  if tls=$(openssl s_client -connect 127.0.0.1:$((port + 3)) -alpn h2 </dev/null 2>&1) && grep -q "ALPN protocol: h2" <<<"$tls"; then
    echo "tls: handshake OK ($(grep -m1 -oE 'TLSv[0-9.]+' <<<"$tls"), ALPN h2) with the image's libssl" >&2
  else
    echo "tls: handshake FAILED" >&2; echo "$tls" | tail -n 5 >&2; cat "$WORK/epp-tls.log" >&2; rc=1
  fi
  if ! grep -q '"msg":"Flags processed"' "$WORK/epp.log"; then echo "no zap JSON log from the image" >&2; rc=1; fi
  if [ $rc -ne 0 ]; then echo "EPP log:" >&2; cat "$WORK/epp.log" >&2; fi
}
[ $rc -eq 0 ] && echo "image run test ($RUNTIME): OK" >&2
exit $rc
