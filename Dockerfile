# The production image: `livebot serve` by default; `web` and `worker` for a scaled-out setup.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY web ./web
COPY livebot ./livebot
# A wheel, not an editable install: the image holds no source tree to drift from.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

RUN useradd --create-home --uid 10001 livebot \
    # Owned by the app user before VOLUME: a fresh named volume copies this ownership.
    && mkdir -p /home/livebot/data \
    && chown livebot:livebot /home/livebot/data
USER livebot
WORKDIR /home/livebot
ENV HOST=0.0.0.0 PORT=3000 LIVEBOT_DATA_DIR=/home/livebot/data
EXPOSE 3000
VOLUME ["/home/livebot/data"]
# The start period covers the embedded Redis replaying its append-only file after a restart.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
ENTRYPOINT ["livebot"]
CMD ["serve"]
