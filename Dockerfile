# syntax=docker/dockerfile:1
# porpoise in a container: the compiled single binary on a distroless base (glibc, CA
# certificates, no shell).
#
#   docker build -t porpoise .
#   docker run -p 12345:12345 -v porpoise-data:/data porpoise
#     → `porpoise all --host 0.0.0.0`: SQLite and the admin token in the /data volume;
#       the one-time admin token is printed in the container log on first start.
#   docker run porpoise api --db postgres://… --redis redis://… --secret …   (any mode)
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 . The build stage runs on
# the build machine's own platform and cross-compiles (`bun build --compile --target`).

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
# Builds for the target architecture, runs a smoke test when the build machine can execute the
# result, and prepares the data volume's mount point for the runtime user (nonroot = 65532).
RUN set -eu; \
    case "${TARGETARCH:-amd64}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}: porpoise builds for amd64 and arm64" >&2; exit 1 ;; esac; \
    ./node_modules/.bin/bun scripts/build.ts --target "$arch" --outdir /out; \
    mv "/out/porpoise-linux-$arch" /out/porpoise; \
    rm -f /out/*.map; \
    if [ "${TARGETARCH:-amd64}" = "${BUILDARCH:-amd64}" ]; then /out/porpoise version; fi; \
    mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/porpoise /usr/local/bin/porpoise
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV PORPOISE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 12345
# porpoise is PID 1: it handles SIGTERM/SIGINT itself (drain, close the store, exit 0), so no
# init shim is needed. Health: GET /healthz (process up), GET /readyz (store ready); the image
# has no shell or curl for a HEALTHCHECK, so let the orchestrator probe those.
STOPSIGNAL SIGTERM
ENTRYPOINT ["porpoise"]
CMD ["all", "--host", "0.0.0.0"]
