"""Writing to a repository through the Git Data API: one commit, then a branch made or moved.

Never the default branch, never a force: a new branch is created (422 when the name is taken) and
an existing one only fast-forwards. The calls are those GitHub documents for apps.
"""

from __future__ import annotations

from typing import Any, Final

from gidgethub import BadRequest

from livebot.github.client import InstallationAPI
from livebot.github.paths import Query, repo_path

BLOB_MODE: Final = "100644"
FILE_MODES: Final = frozenset({"100644", "100755"})
ALREADY_EXISTS: Final = "already exists"


class BranchTaken(Exception):
    """A branch of that name already exists."""


def _ref_path(repository: str, branch: str, kind: str = "refs") -> str:
    """`git/refs/heads/<branch>` (or `git/ref/…`, the single-ref read), segment by segment."""
    return repo_path(repository, "git", kind, "heads", *branch.split("/"))


async def _modes(
    gh: InstallationAPI, repository: str, tree: str, paths: set[str]
) -> dict[str, str]:
    """The modes of existing files among `paths` (an executable stays executable)."""
    listing: dict[str, Any] = await gh.getitem(
        repo_path(repository, "git", "trees", tree, query={"recursive": 1})
    )
    return {
        entry["path"]: entry["mode"]
        for entry in listing.get("tree", [])
        if entry.get("path") in paths and entry.get("mode") in FILE_MODES
    }


async def make_commit(
    gh: InstallationAPI,
    repository: str,
    parent: str,
    contents: dict[str, str | None],
    message: str,
) -> str:
    """A commit of `contents` ({path: text, None deletes}) on top of `parent`; its sha."""
    base: dict[str, Any] = await gh.getitem(repo_path(repository, "git", "commits", parent))
    base_tree = str(base["tree"]["sha"])
    modes = await _modes(gh, repository, base_tree, set(contents))
    items: list[dict[str, Any]] = []
    for path, text in contents.items():
        item: dict[str, Any] = {"path": path, "mode": modes.get(path, BLOB_MODE), "type": "blob"}
        # Text goes inline in the tree (one call instead of one blob per file); None deletes.
        item.update({"content": text} if text is not None else {"sha": None})
        items.append(item)
    tree: dict[str, Any] = await gh.post(
        repo_path(repository, "git", "trees"), data={"base_tree": base_tree, "tree": items}
    )
    commit: dict[str, Any] = await gh.post(
        repo_path(repository, "git", "commits"),
        data={"message": message, "tree": tree["sha"], "parents": [parent]},
    )
    return str(commit["sha"])


async def branch_head(gh: InstallationAPI, repository: str, branch: str) -> str | None:
    """The commit a branch points to, None when it does not exist."""
    try:
        ref: dict[str, Any] = await gh.getitem(_ref_path(repository, branch, "ref"))
    except BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    return str(ref["object"]["sha"])


async def create_branch(gh: InstallationAPI, repository: str, branch: str, sha: str) -> None:
    """A new branch at `sha`; BranchTaken when the name exists."""
    try:
        await gh.post(
            repo_path(repository, "git", "refs"), data={"ref": f"refs/heads/{branch}", "sha": sha}
        )
    except BadRequest as exc:
        if exc.status_code == 422 and ALREADY_EXISTS in str(exc).lower():
            raise BranchTaken(branch) from None
        raise


async def fast_forward(gh: InstallationAPI, repository: str, branch: str, sha: str) -> None:
    """Move a branch to `sha`, a descendant of its head (GitHub refuses anything else)."""
    await gh.patch(_ref_path(repository, branch), data={"sha": sha, "force": False})


async def delete_branch(gh: InstallationAPI, repository: str, branch: str) -> None:
    """Remove a branch (one this run created)."""
    await gh.delete(_ref_path(repository, branch))


async def find_pull(gh: InstallationAPI, repository: str, branch: str) -> dict[str, Any] | None:
    """The pull request from `branch` of this repository, open or closed, if there is one."""
    owner = repository.split("/", 1)[0]
    query: Query = {"head": f"{owner}:{branch}", "state": "all", "per_page": 1}
    pulls: list[dict[str, Any]] = await gh.getitem(repo_path(repository, "pulls", query=query))
    return pulls[0] if pulls else None
