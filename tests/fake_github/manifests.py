"""GitHub's app-manifest flow, faked: the new-app page (web host) and the code conversion (API).

The new-app page skips GitHub's confirmation click: it registers the posted manifest at once and
redirects to its `redirect_url` with a one-time code and the `state` it was given. The code's
conversion makes the new app the fake's app (id, slug, webhook URL; same private key), so the
rest of the fake answers as the app that was just created.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fake_github.common import Reply, iso, not_found, validation_failed

if TYPE_CHECKING:
    from tests.fake_github.server import FakeGitHub


class Manifests:
    """Mixin of FakeGitHub: /settings/apps/new, its organisation form, and the conversion."""

    def _manifest_routes(self: FakeGitHub, r: web.UrlDispatcher) -> None:
        for path in ("/settings/apps/new", "/organizations/{org}/settings/apps/new"):
            r.add_get(path, self._new_app)
            r.add_post(path, self._new_app)
        r.add_post("/app-manifests/{code}/conversions", self._convert_manifest)

    async def _new_app(self: FakeGitHub, request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else request.query
        try:
            manifest = json.loads(str(form.get("manifest", "")))
            redirect_url = manifest["redirect_url"]
            manifest["hook_attributes"]["url"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="Invalid GitHub App configuration")
        code = secrets.token_hex(10)
        org = request.match_info.get("org")
        self.manifest_codes[code] = {"manifest": manifest, "organization": org}
        self.manifests_received.append({"manifest": manifest, "organization": org})
        query = urlencode({"code": code, "state": request.query.get("state", "")})
        return web.Response(status=302, headers={"Location": f"{redirect_url}?{query}"})

    async def _convert_manifest(self: FakeGitHub, request: web.Request) -> web.Response:
        if "authorization" in {k.lower() for k in request.headers}:
            raise Reply(401, "Bad credentials")  # the code alone authenticates
        entry = self.manifest_codes.pop(request.match_info["code"], None)
        if entry is None:
            raise not_found()
        manifest: dict[str, Any] = entry["manifest"]
        if not manifest.get("name"):
            raise validation_failed("Integration", "missing_field", "name")
        self.app_id = self._new_id()
        self.app_slug = re.sub(r"[^a-z0-9]+", "-", manifest["name"].lower()).strip("-")
        self.hook_url = manifest["hook_attributes"]["url"]
        owner = self._user(entry["organization"] or "octocat")
        return web.json_response(
            {
                "id": self.app_id,
                "slug": self.app_slug,
                "node_id": f"A_{self.app_id}",
                "owner": owner,
                "name": manifest["name"],
                "description": manifest.get("description", ""),
                "external_url": manifest.get("url"),
                "html_url": f"https://github.com/apps/{self.app_slug}",
                "created_at": iso(),
                "updated_at": iso(),
                "permissions": manifest.get("default_permissions", {}),
                "events": manifest.get("default_events", []),
                "client_id": f"Iv1.{secrets.token_hex(8)}",
                "client_secret": secrets.token_hex(20),
                "webhook_secret": secrets.token_hex(20),
                "pem": self.private_key_pem,
            },
            status=201,
        )
