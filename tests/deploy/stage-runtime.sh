#!/bin/sh
# Lays out the runtime image's whole file tree in DEST: the daemon binary, every
# shared library it loads (from ldd, the dynamic loader included), the CA
# bundle, the default config and regions list, a passwd/group entry for UID
# 65532 and an empty, writable state directory. The Dockerfile runs it in its
# build stage and copies DEST into a `scratch` image; tests/deploy/run.sh runs
# it on the local build and starts the binary inside DEST with chroot, to show
# the tree is complete without a shell or anything else.
# Usage: stage-runtime.sh BINARY SRCROOT DEST
set -eu
bin=$1; src=$2; dest=$3
mkdir -p "$dest/usr/bin" "$dest/etc/aks-backup-companion" "$dest/etc/ssl/certs" \
         "$dest/var/lib/aks-backup-companion" "$dest/tmp"
install -m 0755 "$bin" "$dest/usr/bin/aks-backup-companion"
# "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)"
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
while read -r lib; do
  mkdir -p "$dest$(dirname "$lib")"
  cp -L "$lib" "$dest$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/ca-certificates.crt"
fi
install -m 0644 "$src/config/aks-backup-companion.yaml" "$src/config/regions.txt" "$src/config/kubernetes-versions.txt" "$dest/etc/aks-backup-companion/"
echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' > "$dest/etc/passwd"
echo 'nonroot:x:65532:' > "$dest/etc/group"
printf 'hosts: files dns\n' > "$dest/etc/nsswitch.conf"
chmod 1777 "$dest/tmp"
chown 65532:65532 "$dest/var/lib/aks-backup-companion" 2>/dev/null || true
