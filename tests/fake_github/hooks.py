"""App-level endpoints of the fake GitHub: the app's webhook config and deliveries, and the
repositories an installation can reach."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fake_github.common import Reply, iso, not_found, page_params, paginate

if TYPE_CHECKING:
    from tests.fake_github.server import FakeGitHub


class AppHooks:
    """Mixin of FakeGitHub: /app/hook/* (app JWT) and /installation/repositories (token)."""

    def _hook_routes(self: FakeGitHub, r: web.UrlDispatcher) -> None:
        r.add_get("/app/hook/config", self._hook_config)
        r.add_get("/app/hook/deliveries", self._list_deliveries)
        r.add_get("/app/hook/deliveries/{did:\\d+}", self._get_delivery)
        r.add_post("/app/hook/deliveries/{did:\\d+}/attempts", self._redeliver)
        r.add_get("/installation/repositories", self._installation_repos)

    # ---- test helpers ---------------------------------------------------------------------
    def add_delivery(
        self: FakeGitHub,
        event: str = "issue_comment",
        action: str | None = "created",
        status_code: int = 200,
        installation_id: int | None = 1,
        repository_id: int | None = None,
        guid: str | None = None,
        delivered_at: float | None = None,
        redelivery: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a delivery of the app's webhook (status_code 0 or ≥ 400: a failed one) and
        the request GitHub sent (`payload`, else one with only the action)."""
        status = (
            "OK"
            if 200 <= status_code < 300
            else (f"Invalid HTTP Response: {status_code}" if status_code else "timed out")
        )
        delivery: dict[str, Any] = {
            "id": self._new_id() * 10,
            "guid": guid or str(uuid.uuid4()),
            "delivered_at": iso(delivered_at),
            "redelivery": redelivery,
            "duration": 0.27,
            "status": status,
            "status_code": status_code,
            "event": event,
            "action": action,
            "installation_id": installation_id,
            "repository_id": repository_id,
            "throttled_at": None,
        }
        self.deliveries.append(delivery)
        self.delivery_payloads[delivery["id"]] = (
            payload if payload is not None else {"action": action}
        )
        return delivery

    # ---- handlers -------------------------------------------------------------------------
    async def _hook_config(self: FakeGitHub, request: web.Request) -> web.Response:
        self._check_jwt(request)
        return web.json_response(
            {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": self.hook_url,
                "secret": "********",
            }
        )

    async def _list_deliveries(self: FakeGitHub, request: web.Request) -> web.Response:
        self._check_jwt(request)
        per_page, _ = page_params(request)
        newest_first = sorted(self.deliveries, key=lambda d: -d["id"])
        cursor = request.query.get("cursor")
        start = 0
        if cursor:
            if not cursor.startswith("v1_") or not cursor[3:].isdigit():
                raise Reply(422, "Invalid cursor")
            after = int(cursor[3:])
            start = next(
                (i for i, d in enumerate(newest_first) if d["id"] <= after), len(newest_first)
            )
        page = newest_first[start : start + per_page]
        resp = web.json_response(page)
        if start + per_page < len(newest_first):
            nxt = newest_first[start + per_page]["id"]
            query = urlencode({**request.query, "per_page": per_page, "cursor": f"v1_{nxt}"})
            resp.headers["Link"] = f'<{self.url}{request.path}?{query}>; rel="next"'
        return resp

    def _delivery(self: FakeGitHub, request: web.Request) -> dict[str, Any]:
        self._check_jwt(request)
        did = int(request.match_info["did"])
        found = next((d for d in self.deliveries if d["id"] == did), None)
        if found is None:
            raise not_found()
        return found

    async def _get_delivery(self: FakeGitHub, request: web.Request) -> web.Response:
        d = self._delivery(request)
        return web.json_response(
            {
                **d,
                "url": self.hook_url,
                # As GitHub's example shows it (no signature: the fake has no secret).
                "request": {
                    "headers": {
                        "X-GitHub-Delivery": d["guid"],
                        "Accept": "*/*",
                        "User-Agent": "GitHub-Hookshot/b8c71d8",
                        "X-GitHub-Event": d["event"],
                        "content-type": "application/json",
                    },
                    "payload": self.delivery_payloads[d["id"]],
                },
                "response": {"headers": {}, "payload": ""},
            }
        )

    async def _redeliver(self: FakeGitHub, request: web.Request) -> web.Response:
        d = self._delivery(request)
        self.redeliveries.append(d["id"])
        self.add_delivery(
            d["event"],
            d["action"],
            200,
            d["installation_id"],
            d["repository_id"],
            guid=d["guid"],
            delivered_at=time.time(),
            redelivery=True,
            payload=self.delivery_payloads[d["id"]],
        )
        return web.json_response({}, status=202)

    async def _installation_repos(self: FakeGitHub, request: web.Request) -> web.Response:
        self._check_token(request)
        repos = list(self.repos.values())
        per_page, page = page_params(request)
        resp = paginate(request, self.url, repos)
        return web.json_response(
            {
                "total_count": len(repos),
                "repository_selection": "all",
                "repositories": repos[(page - 1) * per_page : page * per_page],
            },
            headers={"Link": resp.headers["Link"]} if "Link" in resp.headers else None,
        )
