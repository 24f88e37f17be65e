"""Every feature's webhook router, composed in one place."""

from __future__ import annotations

from gidgethub import routing

from livebot.intake import auto_review, checks, mentions

router = routing.Router(mentions.router, auto_review.router, checks.router)
