"""Prometheus metrics, defined once for the web server and the workers."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

# Label values come from this fixed set: the event header is unsigned, and a label per value an
# outsider sends would grow /metrics (and memory) without bound.
WEBHOOK_EVENTS: Final = frozenset(
    {
        "check_run",
        "issue_comment",
        "issues",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "installation",
        "installation_repositories",
        "installation_target",
        "github_app_authorization",
        "ping",
        "push",
    }
)
OTHER_EVENT: Final = "other"

SSE_VIEWERS = Gauge("livebot_sse_viewers", "Viewers connected to live run streams in this process")
SSE_EVENTS_DELIVERED = Counter(
    "livebot_sse_events_delivered_total", "Run events handed to viewers of this process"
)
SSE_SLOW_VIEWERS_CUT = Counter(
    "livebot_sse_slow_viewers_cut_total", "Viewers disconnected for falling too far behind"
)
WEBHOOKS = Counter(
    "livebot_webhooks_total", "Webhook deliveries by event and outcome", ["event", "outcome"]
)
WEBHOOK_SECONDS = Histogram(
    "livebot_webhook_seconds",
    "Time to acknowledge a webhook delivery",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
REDELIVERY_WAITS = Counter(
    "livebot_redelivery_waits_total",
    "Checks that found deliveries refused in an outage to redeliver, and Redis still away",
)
JOBS = Counter(
    "livebot_jobs_total",
    "Jobs finished by workers, by workflow and outcome",
    ["workflow", "outcome"],
)
JOBS_RUNNING = Gauge("livebot_jobs_running", "Jobs running in this process")
LLM_TOKENS = Counter(
    "livebot_llm_tokens_total",
    "Tokens the model counted, by workflow and kind",
    ["workflow", "kind"],
)
LLM_COST = Counter(
    "livebot_llm_cost_usd_total", "Estimated cost of the model's tokens in US dollars", ["workflow"]
)

# Set by the workers (every few seconds): an answer waits this long before any worker starts it.
QUEUE_AGE = Gauge(
    "livebot_queue_oldest_job_age_seconds",
    "Age of the oldest queued job no worker has taken yet",
)
LLM_ERRORS = Counter(
    "livebot_llm_errors_total", "Runs the model failed, by error code", ["workflow", "code"]
)


def event_label(event: str) -> str:
    """The `event` label of a delivery: its event name if known, else `other`."""
    return event if event in WEBHOOK_EVENTS else OTHER_EVENT
