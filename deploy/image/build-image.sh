#!/usr/bin/env bash
# Builds the FastEpp OCI image without pulling any image: a distroless/cc-shaped root filesystem assembled from Debian
# packages (libc, libgcc, libssl, CA certificates, tzdata), a nonroot user 65532, no shell, and the AOT
# binary at /epp (the reference image's entrypoint path); written as an OCI image layout by hand (one gzip layer,
# config, manifest, index) and packed as an OCI archive that `podman load` and `docker load` accept (it also carries
# docker's manifest.json). Reproducible: fixed mtimes, sorted entries, numeric owners.
#
# usage: build-image.sh <fastepp binary> <output .tar> [tag]
# Needs: apt-get (download only, no root), dpkg-deb, tar, gzip, sha256sum. Run by `./build.sh image`.
set -euo pipefail
BIN=$1 OUT_TAR=$2 TAG=${3:-localhost/fastepp:latest}
# The packages of gcr.io/distroless/cc-debian12 minus libgomp1 and libstdc++6 (the AOT binary links neither).
PACKAGES=(libc6 libgcc-s1 libssl3 ca-certificates tzdata)
# Runtime settings shared with Dockerfile.aot (see docs/operations.md).
ENV_VARS=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 DOTNET_GCgen0size=800000)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs LAYOUT=$WORK/layout
mkdir -p "$ROOTFS" "$LAYOUT/blobs/sha256" "$WORK/debs"

# 1. Packages: downloaded from the configured Debian mirror (or reused from DEB_CACHE), unpacked without maintainer scripts.
DEB_CACHE=${DEB_CACHE:-}
if [ -n "$DEB_CACHE" ] && [ -d "$DEB_CACHE" ]; then cp "$DEB_CACHE"/*.deb "$WORK/debs/" 2>/dev/null || true; fi
missing=()
for p in "${PACKAGES[@]}"; do ls "$WORK/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  (cd "$WORK/debs" && chmod 777 . && apt-get download -qq "${missing[@]}" 2>/dev/null)
fi
for p in "${PACKAGES[@]}"; do
  deb=$(ls "$WORK/debs/${p}_"*.deb | head -n 1)
  dpkg-deb -x "$deb" "$ROOTFS"
  echo "  $(basename "$deb")" >&2
done

# 2. What the packages' maintainer scripts or distroless's build would add: the CA bundle, users, dirs; docs removed.
mkdir -p "$ROOTFS/etc/ssl/certs" "$ROOTFS/tmp" "$ROOTFS/home/nonroot" "$ROOTFS/root" "$ROOTFS/var/run" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
find "$ROOTFS/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat > "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
rm -rf "$ROOTFS/usr/share/doc" "$ROOTFS/usr/share/man" "$ROOTFS/usr/share/info" "$ROOTFS/usr/share/lintian" \
  "$ROOTFS/usr/share/locale" "$ROOTFS/usr/sbin/update-ca-certificates" "$ROOTFS/usr/lib/x86_64-linux-gnu/gconv" \
  "$ROOTFS/usr/bin" "$ROOTFS/usr/sbin" "$ROOTFS/sbin" "$ROOTFS/bin" "$ROOTFS/etc/ca-certificates" "$ROOTFS/usr/lib/ssl/misc"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$ROOTFS/etc/group"
printf 'hosts: files dns\n' > "$ROOTFS/etc/nsswitch.conf"
ln -sf /usr/share/zoneinfo/UTC "$ROOTFS/etc/localtime"
cp "$BIN" "$ROOTFS/epp"
chmod 0755 "$ROOTFS/epp"
chmod 1777 "$ROOTFS/tmp"
chmod 0700 "$ROOTFS/root"

# 3. The layer: a reproducible tar (owner root except the nonroot home), gzip without name/time.
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$ROOTFS" -cf "$WORK/layer.tar" --exclude=./home/nonroot . 
tar --sort=name --mtime=@0 --numeric-owner --owner=65532 --group=65532 -C "$ROOTFS" -rf "$WORK/layer.tar" ./home/nonroot
DIFF_ID=$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)
gzip -n -6 -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"
LAYER=$(sha256sum "$WORK/layer.tar.gz" | cut -d' ' -f1); LAYER_SIZE=$(stat -c %s "$WORK/layer.tar.gz")
mv "$WORK/layer.tar.gz" "$LAYOUT/blobs/sha256/$LAYER"

blob() { # writes stdin as a blob; prints "digest size"
  local f=$WORK/blob d; cat > "$f"; d=$(sha256sum "$f" | cut -d' ' -f1); mv "$f" "$LAYOUT/blobs/sha256/$d"
  echo "$d $(stat -c %s "$LAYOUT/blobs/sha256/$d")"
}
env_json=$(printf '"%s",' "${ENV_VARS[@]}"); env_json="[${env_json%,}]"
read -r CONFIG CONFIG_SIZE < <(printf '%s' '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",'\
'"config":{"User":"65532:65532","Env":'"$env_json"',"Entrypoint":["/epp"],"WorkingDir":"/",'\
'"ExposedPorts":{"9002/tcp":{},"9003/tcp":{},"9090/tcp":{}},'\
'"Labels":{"org.opencontainers.image.title":"fastepp","org.opencontainers.image.description":"FastEpp: native-AOT drop-in Endpoint Picker for the Gateway API Inference Extension"}},'\
'"rootfs":{"type":"layers","diff_ids":["sha256:'"$DIFF_ID"'"]},'\
'"history":[{"created":"1970-01-01T00:00:00Z","created_by":"deploy/image/build-image.sh: '"${PACKAGES[*]}"' + /epp"}]}' | blob)
read -r MANIFEST MANIFEST_SIZE < <(printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$CONFIG"'","size":'"$CONFIG_SIZE"'},'\
'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$LAYER"'","size":'"$LAYER_SIZE"'}]}' | blob)
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"digest":"sha256:'"$MANIFEST"'","size":'"$MANIFEST_SIZE"',"annotations":{"io.containerd.image.name":"'"$TAG"'","org.opencontainers.image.ref.name":"'"${TAG##*:}"'"}}]}' > "$LAYOUT/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$LAYOUT/oci-layout"
# docker load (before 25.0) reads this file instead of index.json.
printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":["blobs/sha256/%s"]}]' "$CONFIG" "$TAG" "$LAYER" > "$LAYOUT/manifest.json"

mkdir -p "$(dirname "$OUT_TAR")"
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$LAYOUT" -cf "$OUT_TAR" oci-layout index.json manifest.json blobs
echo "image $TAG: $OUT_TAR ($(stat -c %s "$OUT_TAR" | awk '{printf "%.1f MB", $1/1048576}') archive, layer $(awk -v s="$LAYER_SIZE" 'BEGIN{printf "%.1f MB", s/1048576}') compressed, $(awk -v s="$(stat -c %s "$WORK/layer.tar")" 'BEGIN{printf "%.1f MB", s/1048576}') unpacked), manifest sha256:$MANIFEST"
