"""A pull request as this installation sees it: what a helper needs to read or write it."""

from __future__ import annotations

from dataclasses import dataclass

from livebot.github.client import InstallationAPI
from livebot.github.paths import Query, Segment, repo_path


@dataclass(frozen=True)
class PullRequest:
    """The installation's client, the repository (`owner/repo`) and the pull request's number."""

    gh: InstallationAPI
    repository: str
    number: int

    def path(self, *segments: Segment, query: Query | None = None) -> str:
        """`/repos/{owner}/{repo}/pulls/{number}/seg…?query`."""
        return repo_path(self.repository, "pulls", self.number, *segments, query=query)
