# aks-backup-companion container image: a Debian build stage, and a
# runtime image FROM scratch holding only the binary, the shared libraries it
# loads, CA certificates and the default config; no shell. Runs as UID 65532.
#   docker build -t aks-backup-companion:0.1.0 .
# tests/deploy/dockerfile_lint.py checks this file's structure (docker does not
# run in the test environment) and tests/deploy/run.sh runs the staged tree.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential meson ninja-build pkg-config git ca-certificates \
      libuv1-dev libcurl4-openssl-dev libjson-c-dev libyajl-dev libyaml-dev libmicrohttpd-dev libgnutls28-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release -Dtests=disabled \
 && ninja -C /build daemon/aks-backup-companion
RUN tests/deploy/stage-runtime.sh /build/daemon/aks-backup-companion /src /rootfs \
 && /rootfs/usr/bin/aks-backup-companion version

FROM scratch
COPY --from=build /rootfs/ /
ENV PATH=/usr/bin
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/bin/aks-backup-companion"]
CMD ["run", "--config", "/etc/aks-backup-companion/aks-backup-companion.yaml"]
