# syntax=docker/dockerfile:1
# porpoise in a container: the compiled single binary on Debian 12 slim with what shell and python
# tasks need (bash, python3, CA certificates), tini as PID 1, and a non-root user.
#
#   docker build -t porpoise .
#   docker run -p 12345:12345 -v porpoise-data:/data porpoise
#     → `porpoise all --host 0.0.0.0`: SQLite and the admin token in the /data volume;
#       the one-time admin token is printed on the terminal on first start (and kept in
#       /data/admin-token); preset one with -e PORPOISE_ADMIN_TOKEN=… for automation.
#   docker run porpoise api --db postgres://… --redis redis://… --secret …   (any mode)
#   compose.yaml runs a whole cluster; deploy/helm/porpoise is the Helm chart.
#
# Tasks run as the image's user `porpoise` (uid 65532): what a task needs must be in the image.
# Add tools in an image of your own, a few lines (README "Operate" → "Deployment"):
#
#   FROM porpoise
#   USER root
#   RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
#       && rm -rf /var/lib/apt/lists/*
#   USER porpoise
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 . The build stage runs on
# the build machine's own platform and cross-compiles (`bun build --compile --target`); the
# runtime stage is the target's Debian (its apt-get runs under emulation when cross-building).

FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS build
WORKDIR /src
# Dependencies first, so source edits do not reinstall them. Bun itself comes from the lockfile
# (the `bun` devDependency), pinned like everything else.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY scripts/build.ts ./scripts/build.ts
ARG TARGETARCH
ARG BUILDARCH
# Builds for the target architecture and runs a smoke test when the build machine can execute
# the result.
RUN set -eu; \
    case "${TARGETARCH:-amd64}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}: porpoise builds for amd64 and arm64" >&2; exit 1 ;; esac; \
    ./node_modules/.bin/bun scripts/build.ts --target "$arch" --outdir /out; \
    mv "/out/porpoise-linux-$arch" /out/porpoise; \
    rm -f /out/*.map; \
    if [ "${TARGETARCH:-amd64}" = "${BUILDARCH:-amd64}" ]; then /out/porpoise version; fi

# The runtime: Debian 12 (glibc, as the Bun executable needs) with the interpreters of the shell
# and python task types. distroless (the base before) had neither bash nor python3, so the README's
# own tour workflow could not run in the image.
FROM debian:bookworm-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
# Where the source lives, for registries that link to it: --build-arg SOURCE=https://…
ARG SOURCE=""
LABEL org.opencontainers.image.title="porpoise" \
      org.opencontainers.image.description="Distributed DAG workflow scheduler: one binary, modes all / api / master / worker; runs shell and python tasks" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# bash and python3: the shell and python task types (src/worker/task-types/). ca-certificates:
# https from tasks, http tasks and rediss/Postgres TLS. tini: PID 1 that reaps the orphans a
# task's own children leave behind (porpoise would otherwise collect zombies) and forwards
# SIGTERM to porpoise, which drains.
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends bash python3 ca-certificates tini; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 65532 porpoise; \
    useradd --system --uid 65532 --gid 65532 --home-dir /data --no-create-home --shell /usr/sbin/nologin porpoise; \
    mkdir -p /data /data-work; \
    chown 65532:65532 /data /data-work; \
    chmod 0700 /data; \
    chmod 0711 /data-work
COPY --from=build /out/porpoise /usr/local/bin/porpoise
USER 65532:65532
WORKDIR /data
# The work dir (attempts' cwd, HOME and TMPDIR) sits outside the 0700 data dir; it need not
# outlive the container.
ENV PORPOISE_DATA_DIR=/data \
    PORPOISE_WORK_DIR=/data-work \
    LANG=C.UTF-8
VOLUME ["/data"]
EXPOSE 12345
# porpoise drains on SIGTERM (running tasks get --shutdown-timeout, then exit 0); tini passes it on.
STOPSIGNAL SIGTERM
# /readyz: 503 with the reason while the store is unreachable, migrations are pending or the data
# dir takes no writes. all and api serve it on --port, master and worker on --metrics-port: the
# check asks the first of the two that listens (a 503 there is unhealthy, not a reason to go on).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.error, urllib.request\nfor port in (os.environ.get('PORPOISE_PORT') or '12345', os.environ.get('PORPOISE_METRICS_PORT') or '9464'):\n    try:\n        urllib.request.urlopen('http://127.0.0.1:%s/readyz' % port, timeout=4)\n        raise SystemExit(0)\n    except urllib.error.HTTPError:\n        raise SystemExit(1)\n    except OSError:\n        pass\nraise SystemExit(1)"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/porpoise"]
CMD ["all", "--host", "0.0.0.0"]
