"""GitHub REST paths: hostile names stay one segment, dot segments are refused."""

from __future__ import annotations

import pytest
import yarl
from gidgethub import sansio

from livebot.github.paths import UnsafeSegment, api_path, repo_path

HOSTILE = "%2e%2e/%2e%2e/vault/contents/creds.txt?ref=main#"


def sent(path: str) -> yarl.URL:
    """The URL the client sends for `path`, as gidgethub and aiohttp build it."""
    return yarl.URL(sansio.format_url(path, {}, base_url="https://api.github.com"))


def test_a_hostile_file_name_stays_inside_its_repository() -> None:
    url = sent(repo_path("octo/hello", "contents", HOSTILE, query={"ref": "abc"}))
    assert url.path == "/repos/octo/hello/contents/" + HOSTILE
    assert url.raw_path.count("/") == 5
    assert dict(url.query) == {"ref": "abc"} and url.fragment == ""


@pytest.mark.parametrize("segment", ["", ".", ".."])
def test_dot_and_empty_segments_are_refused(segment: str) -> None:
    with pytest.raises(UnsafeSegment):
        api_path("repos", "octo", segment, "contents")
    with pytest.raises(UnsafeSegment):
        repo_path("octo/hello", "git", "refs", "heads", *f"a/{segment}/b".split("/"))


def test_the_repository_must_be_owner_and_name() -> None:
    with pytest.raises(UnsafeSegment):
        repo_path("octo")
    with pytest.raises(UnsafeSegment):
        repo_path("../vault")
    assert repo_path("octo/a/b") == "/repos/octo/a%2Fb"


def test_templates_and_queries_are_quoted() -> None:
    # gidgethub expands `{…}` as a URI template: quoted braces are left alone.
    assert sent(api_path("app-manifests", "{code}", "x y")).path == "/app-manifests/{code}/x y"
    url = sent(repo_path("o/r", "pulls", query={"head": "o:a/b&c=d", "per_page": 1}))
    assert dict(url.query) == {"head": "o:a/b&c=d", "per_page": "1"}
    assert api_path("app", "installations", 7, "access_tokens") == (
        "/app/installations/7/access_tokens"
    )
