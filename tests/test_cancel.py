"""POST /runs/{id}/cancel: the run's token, a same-origin browser and the page's CSRF token."""

from __future__ import annotations

from livebot.core.settings import Settings
from livebot.runs.links import run_token
from livebot.runs.log import RUN_PAGE, RunLog
from livebot.web.app_keys import LINK_SECRET
from livebot.web.live.cancel import CSRF_HEADER, csrf_token
from tests.conftest import AppClient, WebClient
from tests.support import PUBLIC


async def running_run(run_log: RunLog) -> str:
    run_id = await run_log.create(workflow="answer", repository="o/r", number=3, fields=PUBLIC)
    await run_log.append(run_id, "status", {"state": "running", "message": "Thinking"})
    return run_id


def cancel_url(client: AppClient, run_id: str) -> str:
    return f"/runs/{run_id}/cancel?token={run_token(client.app[LINK_SECRET], run_id)}"


def browser_headers(client: AppClient, run_id: str, **extra: str) -> dict[str, str]:
    """What the page's script sends: same-origin, with the CSRF token."""
    origin = str(client.make_url("/").origin())
    headers = {
        "Origin": origin,
        "Sec-Fetch-Site": "same-origin",
        CSRF_HEADER: csrf_token(client.app[LINK_SECRET], run_id),
    }
    headers.update(extra)
    return headers


async def test_cancel_from_the_page_asks_the_run_to_stop(
    web_client: WebClient, settings: Settings, run_log: RunLog
) -> None:
    client = await web_client(settings)
    run_id = await running_run(run_log)
    page = cancel_url(client, run_id).replace("/cancel", "")
    async with client.get(page) as resp:
        html = await resp.text()
    # The page carries what its script sends back.
    assert csrf_token(client.app[LINK_SECRET], run_id) in html
    async with client.post(
        cancel_url(client, run_id), headers=browser_headers(client, run_id)
    ) as r:
        assert r.status == 202, await r.text()
        assert (await r.json())["by"] == RUN_PAGE
    assert await run_log.cancel_requested_by(run_id) == RUN_PAGE


async def test_forged_or_cross_site_requests_are_refused(
    web_client: WebClient, settings: Settings, run_log: RunLog
) -> None:
    client = await web_client(settings)
    run_id = await running_run(run_log)
    url = cancel_url(client, run_id)
    refused = [
        browser_headers(client, run_id, **{CSRF_HEADER: ""}),
        browser_headers(client, run_id, **{CSRF_HEADER: "0" * 32}),
        browser_headers(client, run_id, **{CSRF_HEADER: "é" * 32}),  # not comparable: a 403
        browser_headers(client, run_id, Origin="https://evil.example"),
        browser_headers(client, run_id, **{"Sec-Fetch-Site": "cross-site"}),
        {CSRF_HEADER: csrf_token(client.app[LINK_SECRET], run_id)},  # no origin at all
    ]
    for headers in refused:
        async with client.post(url, headers=headers, skip_auto_headers=["Origin"]) as resp:
            assert resp.status == 403, headers
            assert "Refused" in (await resp.json())["error"]
    wrong_token = url.replace("token=", "token=0")
    async with client.post(wrong_token, headers=browser_headers(client, run_id)) as resp:
        assert resp.status == 404
    assert await run_log.cancel_requested_by(run_id) is None


async def test_a_finished_run_cannot_be_cancelled(
    web_client: WebClient, settings: Settings, run_log: RunLog
) -> None:
    client = await web_client(settings)
    run_id = await running_run(run_log)
    await run_log.append(run_id, "complete", {"status": "succeeded"})
    headers = browser_headers(client, run_id)
    async with client.post(cancel_url(client, run_id), headers=headers) as resp:
        assert resp.status == 409
        assert (await resp.json())["status"] == "succeeded"
    assert await run_log.cancel_requested_by(run_id) is None
