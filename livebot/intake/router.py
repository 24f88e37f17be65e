"""Every feature's webhook router, composed in one place."""

from __future__ import annotations

from gidgethub import routing

from livebot.intake import auto_review, feedback, mentions

router = routing.Router(mentions.router, auto_review.router, feedback.router)
