#!/usr/bin/env bash
# Installs what the build and the tests need, from Debian's packages only.
# Idempotent: packages already present are not touched, apt is not run at all
# when nothing is missing.
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config
      libuv1-dev libcurl4-openssl-dev libjson-c-dev libyajl-dev libyaml-dev libmicrohttpd-dev
      zlib1g-dev check libgnutls28-dev nghttp2-proxy
      clang libclang-rt-14-dev valgrind
      prometheus python3 python3-kubernetes python3-yaml
      curl openssl unzip ca-certificates nodejs npm time)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
# nodejs/npm may come from elsewhere on a developer machine: accept the binaries.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null || filtered+=("$p") ;;
    npm) command -v npm >/dev/null || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
if [ ${#filtered[@]} -gt 0 ]; then
  echo "deps: installing ${filtered[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
else
  echo "deps: all present"
fi
