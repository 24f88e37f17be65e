# The production image: `livebot serve` by default (web server and workers in one process).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 livebot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY web ./web
RUN pip install --no-cache-dir .

USER livebot
WORKDIR /home/livebot
ENV HOST=0.0.0.0 PORT=3000 LIVEBOT_DATA_DIR=/home/livebot/data
EXPOSE 3000
VOLUME ["/home/livebot/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz')"
ENTRYPOINT ["livebot"]
CMD ["serve"]
