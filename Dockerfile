# syntax=docker/dockerfile:1

# One image runs every restorebot process; the Kubernetes container `args` (or `docker run …
# <command>`) choose which:  bot | worker | serve | migrate | restore-catalog.
#
#   docker build -t restorebot:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# The base image is pinned by tag; CI may pin it harder by digest
# (--build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:…). Build arguments carry only public
# metadata: tokens and DSNs reach the container at run time, from Kubernetes Secrets.
# The same Node.js major as development and the tests (package.json pins node@24 for those).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: all dependencies (TypeScript and esbuild live in devDependencies), compile to
# dist/ and bundle the CLI into dist/bundle/restorebot.mjs ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: compiling needs no install script (the only ones in the tree build esbuild
# for tsx/vitest, probe for prebuilt msgpackr and bufferutil binaries, and fetch the Node.js
# that the `node` dev dependency pins for development and tests — here the base image's Node,
# the same major, compiles), and not running them keeps a compromised dependency from
# executing code in the builder.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/bundle.mjs ./scripts/
COPY src ./src
COPY jobs ./jobs
# The sandbox (`restorebot demo`) is built from the stand-ins the tests use.
COPY stand-ins ./stand-ins
RUN npm run build

# ---- prod-deps: production dependencies only, installed on the same base image as the
# runtime so any platform-specific optional package matches ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# msgpackr-extract (via bullmq) ships prebuilt binaries as optional packages and falls back
# to plain JavaScript, so skipping its install script loses nothing. bufferutil (ws's native
# frame masking, which makes streaming an archive into a pod cost far less CPU) carries its
# linux-x64 binary in the package itself; its install script would only compile one for other
# platforms, and without one ws masks in plain JavaScript — slower, never wrong.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: node, production node_modules, dist/ and package.json — nothing else ----
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="restorebot" \
      org.opencontainers.image.description="Slack chat-ops bot that restores stateful clusters to a recovery point, with a two-person rule" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

ENV NODE_ENV=production \
    PORT=3000 \
    RESTOREBOT_CONFIG=/etc/restorebot/restorebot.yaml

# npm, corepack and yarn are not needed to run the app (the entrypoint is node itself); removing
# them shrinks the image and the list of packages a scanner reports. A dedicated user with a
# fixed numeric UID/GID lets Kubernetes verify `runAsNonRoot` without resolving names.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && groupadd --system --gid 10001 restorebot \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin restorebot

# pg_dump for the backups restorebot takes (Pachyderm's databases). pg_dump refuses a server of
# a newer major version than itself, so the image carries the newest client from the
# PostgreSQL project's apt repository: 17 dumps servers 9.2 to 17. Raise PG_CLIENT_MAJOR when a
# target's database runs a newer PostgreSQL.
ARG PG_CLIENT_MAJOR=17
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
      https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_CLIENT_MAJOR}" \
 && apt-get purge -y curl && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Files stay owned by root and read-only to the app user: the process cannot alter its own code,
# and the chart can mount the root filesystem read-only (scratch space is an emptyDir at /tmp).
# package.json is needed at run time: restorebot reads its version there (complete.json records
# it). The code is the single-file bundle with its migrations and console files beside it;
# node_modules serves what the bundle leaves out (BullMQ, which reads its Lua scripts from its
# own directory, and optional native packages such as bufferutil).
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/bundle ./dist/bundle

USER 10001:10001
# 3000: the bot (PORT); 3001: the worker's health endpoints (WORKER_PORT, default PORT + 1).
EXPOSE 3000 3001

# Signals: the exec form makes `node` PID 1, so SIGTERM from the kubelet or `docker stop` goes
# straight to it. The kernel drops signals to PID 1 only when no handler is installed, and
# restorebot installs SIGTERM/SIGINT handlers for its graceful shutdown (finish the current
# runbook phase, close queue and pool). The other duty of an init, reaping zombies, does not
# arise: the only child restorebot spawns is pg_dump (for the backups it takes), which forks
# nothing and which node itself waits for. So no tini and no shell wrapper, which would
# otherwise have to forward the signal.
STOPSIGNAL SIGTERM

# No HEALTHCHECK: Kubernetes ignores Docker's HEALTHCHECK and uses the chart's liveness
# (/healthz) and readiness (/readyz) probes instead, on PORT for the bot and WORKER_PORT for the
# worker.
# --max-semi-space-size=2 (MiB): V8's young generation otherwise grows to 3 × 16 MiB, every
# page of which an archive streaming through the worker touches; at 2 MiB the worker's peak
# memory while streaming falls by about 40 MB at the same CPU (docs/influxdb-1x.md, "Memory").
ENTRYPOINT ["node", "--max-semi-space-size=2", "dist/bundle/restorebot.mjs"]
CMD ["serve"]
