"""Pull requests on the fake GitHub: pulls, their files, compare, reviews, review comments."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fake_github.common import (
    Reply,
    iso,
    json_body,
    not_found,
    paginate,
    validation_failed,
)
from tests.fake_github.gitmodel import diff_lines

if TYPE_CHECKING:
    from tests.fake_github.server import FakeGitHub

MAX_PR_FILES = 3000  # GitHub lists at most this many files of a pull request
REVIEW_EVENTS = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}
THREAD = "Pull request review thread "
THREAD_FIELD = "pull_request_review_thread"
# GitHub's wording is not published; this is the sentence of its REST description.
REPLY_TO_REPLY = "Replies to replies are not supported."
REVIEW_DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"


class Pulls:
    """Mixin of FakeGitHub: pull requests and their reviews."""

    def _pull_routes(self: FakeGitHub, r: web.UrlDispatcher, repo: str) -> None:
        r.add_get(repo + "/pulls", self._list_pulls)
        r.add_post(repo + "/pulls", self._create_pull)
        r.add_get(repo + "/pulls/comments/{pcid:\\d+}", self._get_review_comment)
        r.add_patch(repo + "/pulls/comments/{pcid:\\d+}", self._patch_review_comment)
        r.add_post(repo + "/pulls/comments/{pcid:\\d+}/reactions", self._add_reaction)
        r.add_get(repo + "/pulls/comments/{pcid:\\d+}/reactions", self._list_reactions)
        r.add_get(repo + "/pulls/{num:\\d+}", self._get_pull)
        r.add_get(repo + "/pulls/{num:\\d+}/files", self._pull_files)
        r.add_get(repo + "/pulls/{num:\\d+}/reviews", self._list_reviews)
        r.add_post(repo + "/pulls/{num:\\d+}/reviews", self._create_review)
        r.add_get(repo + "/pulls/{num:\\d+}/comments", self._list_review_comments)
        r.add_post(repo + "/pulls/{num:\\d+}/comments", self._create_review_comment)
        r.add_get(repo + "/pulls/{num:\\d+}/commits", self._list_pr_commits)
        r.add_post(repo + "/pulls/{num:\\d+}/comments/{pcid:\\d+}/replies", self._reply)
        r.add_get(repo + "/compare/{basehead:.+}", self._compare)

    # ---- test helpers ---------------------------------------------------------------------
    def add_pr(
        self: FakeGitHub,
        owner: str,
        name: str,
        head: str,
        title: str = "A change",
        body: str | None = "",
        base: str | None = None,
        number: int | None = None,
        user: str = "octocat",
        draft: bool = False,
        head_owner: str | None = None,
        author_association: str = "OWNER",
    ) -> dict[str, Any]:
        """Open a PR from branch `head` (of the fork `head_owner/name` when given) into `base`
        (default: the default branch); it also appears in the issues API. Returns the PR JSON."""
        if number is None:
            number = 1 + max((n for o, r, n in self.issues if (o, r) == (owner, name)), default=0)
        issue = self.add_issue(
            owner, name, number, title, body, user, True, author_association=author_association
        )
        self.pulls[(owner, name, number)] = {
            "number": number,
            "head_repo": (head_owner or owner, name),
            "head_ref": head,
            "base_ref": base or self.repos[(owner, name)]["default_branch"],
            "id": self._new_id(),
            "draft": draft,
            "issue": issue,
            "created_at": issue["created_at"],
        }
        return self._pull_json(owner, name, number)

    def reviews_on(self: FakeGitHub, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """The reviews of a PR, oldest first, each with the `event` it was posted with and its
        inline comments under `comments` (both absent from what the API answers)."""
        return self.reviews.get((owner, name, number), [])

    def review_comments_on(
        self: FakeGitHub, owner: str, name: str, number: int
    ) -> list[dict[str, Any]]:
        """The review comments of a PR, oldest first."""
        return [
            c
            for c in self.review_comments.values()
            if self._review_comment_pr[c["id"]] == (owner, name, number)
        ]

    def add_review_comment(
        self: FakeGitHub,
        owner: str,
        name: str,
        number: int,
        path: str,
        line: int,
        body: str,
        user: str = "octocat",
        side: str = "RIGHT",
        in_reply_to: int | None = None,
        author_association: str = "OWNER",
    ) -> dict[str, Any]:
        """A review comment by someone (on a diff line of the PR's head), as a webhook sends."""
        pr = self.pulls[(owner, name, number)]
        return self._new_review_comment(
            owner,
            name,
            number,
            self._pr_head_sha(pr) or "",
            None,
            {"path": path, "line": line, "side": side, "body": body},
            user,
            author_association,
            in_reply_to,
        )

    # ---- plumbing -------------------------------------------------------------------------
    def _pr_head_sha(self: FakeGitHub, pr: dict[str, Any]) -> str | None:
        o, n = pr["head_repo"]
        return self.refs.get((o, n), {}).get("refs/heads/" + pr["head_ref"]) or pr.get("last_head")

    def _pr(self: FakeGitHub, request: web.Request) -> tuple[str, str, dict[str, Any]]:
        owner, name = self._repo(request)
        pr = self.pulls.get((owner, name, int(request.match_info["num"])))
        if pr is None:
            raise not_found()
        return owner, name, pr

    def _pr_files(
        self: FakeGitHub, owner: str, name: str, pr: dict[str, Any], head: str | None = None
    ) -> list[dict[str, Any]]:
        head = head or self._pr_head_sha(pr)
        base = self.head_of(owner, name, pr["base_ref"])
        if head is None or base is None:
            return []
        return self._files_json(owner, name, head, self.git.merge_base(base, head))

    def _pr_commits(self: FakeGitHub, owner: str, name: str, pr: dict[str, Any]) -> list[str]:
        head = self._pr_head_sha(pr)
        base = self.head_of(owner, name, pr["base_ref"])
        if head is None:
            return []
        of_base = set(self.git.ancestors(base)) if base else set()
        return [c for c in self.git.ancestors(head) if c not in of_base]

    def _files_json(
        self: FakeGitHub,
        owner: str,
        name: str,
        head: str,
        before: str | None,
    ) -> list[dict[str, Any]]:
        """The `files` entries of the diff from commit `before` (None: nothing) to `head`."""
        out = self.git.diff(before, head)
        for f in out:
            path = f["filename"]
            f["blob_url"] = f"https://github.com/{owner}/{name}/blob/{head}/{path}"
            f["raw_url"] = f"https://github.com/{owner}/{name}/raw/{head}/{path}"
            f["contents_url"] = f"{self.url}/repos/{owner}/{name}/contents/{path}?ref={head}"
        return out

    def _repo_min(self: FakeGitHub, key: tuple[str, str]) -> dict[str, Any]:
        return self.repos[key]

    def _pull_json(self: FakeGitHub, owner: str, name: str, number: int) -> dict[str, Any]:
        pr = self.pulls[(owner, name, number)]
        issue = pr["issue"]
        head_sha = self._pr_head_sha(pr)
        base_sha = self.head_of(owner, name, pr["base_ref"])
        head_owner = pr["head_repo"][0]
        api = f"{self.url}/repos/{owner}/{name}"
        html = f"https://github.com/{owner}/{name}/pull/{number}"
        head_repo = self.repos.get(pr["head_repo"])
        files = self._pr_files(owner, name, pr)
        return {
            "url": f"{api}/pulls/{number}",
            "id": pr["id"],
            "node_id": "PR_" + issue["node_id"][2:],
            "html_url": html,
            "diff_url": html + ".diff",
            "patch_url": html + ".patch",
            "issue_url": issue["url"],
            "commits_url": f"{api}/pulls/{number}/commits",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "comments_url": issue["comments_url"],
            "number": number,
            "state": issue["state"],
            "locked": False,
            "title": issue["title"],
            "user": issue["user"],
            "body": issue["body"],
            "labels": [],
            "created_at": pr["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": issue["closed_at"],
            "merged_at": None,
            "merge_commit_sha": None,
            "draft": pr["draft"],
            "head": {
                "label": f"{head_owner}:{pr['head_ref']}",
                "ref": pr["head_ref"],
                "sha": head_sha,
                "user": self._user(head_owner),
                "repo": head_repo,
            },
            "base": {
                "label": f"{owner}:{pr['base_ref']}",
                "ref": pr["base_ref"],
                "sha": base_sha,
                "user": self._user(owner),
                "repo": self.repos[(owner, name)],
            },
            "author_association": issue["author_association"],
            "merged": False,
            "mergeable": None,
            "comments": issue["comments"],
            "review_comments": len(self.review_comments_on(owner, name, number)),
            "maintainer_can_modify": False,
            "commits": len(self._pr_commits(owner, name, pr)),
            "additions": sum(f["additions"] for f in files),
            "deletions": sum(f["deletions"] for f in files),
            "changed_files": len(files),
        }

    # ---- pulls ----------------------------------------------------------------------------
    async def _get_pull(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, pr = self._pr(request)
        return web.json_response(self._pull_json(owner, name, pr["number"]))

    async def _list_pulls(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        state = request.query.get("state", "open")
        head, base = request.query.get("head"), request.query.get("base")
        items = []
        for (o, r, n), pr in sorted(self.pulls.items(), key=lambda kv: -kv[0][2]):
            if (o, r) != (owner, name):
                continue
            if state != "all" and pr["issue"]["state"] != state:
                continue
            if head and head != f"{pr['head_repo'][0]}:{pr['head_ref']}":
                continue
            if base and base != pr["base_ref"]:
                continue
            items.append(self._pull_json(o, r, n))
        return paginate(request, self.url, items)

    async def _create_pull(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        data = await json_body(request)
        title, head, base = data.get("title"), data.get("head"), data.get("base")
        if not isinstance(head, str) or not isinstance(base, str):
            raise Reply(422, 'Invalid request.\n\n"head", "base" weren\'t supplied.')
        if not isinstance(title, str) or not title.strip():
            raise validation_failed("PullRequest", "missing_field", "title")
        head_owner, _, head_ref = head.rpartition(":")
        head_owner = head_owner or owner
        if (head_owner, name) not in self.repos or not self.head_of(head_owner, name, head_ref):
            raise validation_failed("PullRequest", "invalid", "head")
        if not self.head_of(owner, name, base):
            raise validation_failed("PullRequest", "invalid", "base")
        for pr in self.pulls.values():
            if (
                pr["issue"]["state"] == "open"
                and pr["head_repo"] == (head_owner, name)
                and pr["head_ref"] == head_ref
                and pr["base_ref"] == base
                and pr["issue"]["repository_url"].endswith(f"/repos/{owner}/{name}")
            ):
                raise validation_failed(
                    "PullRequest",
                    "custom",
                    message=f"A pull request already exists for {head_owner}:{head_ref}.",
                )
        head_sha = self.head_of(head_owner, name, head_ref)
        base_sha = self.head_of(owner, name, base)
        if head_sha in self.git.ancestors(base_sha or ""):
            raise validation_failed(
                "PullRequest", "custom", message=f"No commits between {base} and {head_ref}"
            )
        body = data.get("body")
        pr = self.add_pr(
            owner,
            name,
            head_ref,
            title,
            body if isinstance(body, str) else None,
            base=base,
            user=self.bot_login,
            draft=bool(data.get("draft")),
            head_owner=head_owner,
            author_association="NONE",
        )
        resp = web.json_response(pr, status=201)
        resp.headers["Location"] = pr["url"]
        return resp

    async def _pull_files(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, pr = self._pr(request)
        return paginate(request, self.url, self._pr_files(owner, name, pr), cap=MAX_PR_FILES)

    async def _compare(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        spec = request.match_info["basehead"]
        base_spec, sep, head_spec = spec.partition("...")
        if not sep:
            raise not_found()

        def resolve(side: str) -> str:
            who, _, ref = side.rpartition(":")
            sha = self._resolve(who or owner, name, ref)
            if sha is None:
                raise not_found()
            return sha

        base, head = resolve(base_spec), resolve(head_spec)
        merge_base = self.git.merge_base(base, head)
        if merge_base is None:
            raise not_found(f"No common ancestor between {base_spec} and {head_spec}.")
        of_head, of_base = self.git.ancestors(head), self.git.ancestors(base)
        ahead = [c for c in of_head if c not in of_base]
        behind = [c for c in of_base if c not in of_head]
        status = (
            "identical"
            if not ahead and not behind
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        api = f"{self.url}/repos/{owner}/{name}"
        html = f"https://github.com/{owner}/{name}/compare/{spec}"
        files = self._files_json(owner, name, head, merge_base)
        commits = [
            self._commit_json(owner, name, self.git.commits[c], files=False)
            for c in reversed(ahead)
        ]
        return web.json_response(
            {
                "url": f"{api}/compare/{spec}",
                "html_url": html,
                "permalink_url": f"https://github.com/{owner}/{name}/compare/{base}...{head}",
                "diff_url": html + ".diff",
                "patch_url": html + ".patch",
                "base_commit": self._commit_json(owner, name, self.git.commits[base], False),
                "merge_base_commit": self._commit_json(
                    owner, name, self.git.commits[merge_base], False
                ),
                "status": status,
                "ahead_by": len(ahead),
                "behind_by": len(behind),
                "total_commits": len(ahead),
                "commits": commits[:250],
                "files": files[:300],
            }
        )

    # ---- reviews --------------------------------------------------------------------------
    @staticmethod
    def _review_json(review: dict[str, Any]) -> dict[str, Any]:
        """A stored review as GitHub shows it (without the fake's own `event`, `comments`)."""
        return {k: v for k, v in review.items() if k not in ("event", "comments")}

    async def _list_reviews(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, pr = self._pr(request)
        items = [self._review_json(r) for r in self.reviews_on(owner, name, pr["number"])]
        return paginate(request, self.url, items)

    async def _create_review(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, pr = self._pr(request)
        data = await json_body(request)
        number = pr["number"]
        event = data.get("event")
        if event is not None and event not in REVIEW_EVENTS:
            raise Reply(422, "Unprocessable Entity", errors=[f"Invalid event {event!r}"])
        body = data.get("body") or ""
        if len(body) > 65536:
            raise Reply(
                422,
                "Unprocessable Entity",
                errors=["Body is too long (maximum is 65536 characters)"],
            )
        commit_id = data.get("commit_id") or self._pr_head_sha(pr)
        if commit_id not in self.git.commits:
            raise Reply(422, "Unprocessable Entity", errors=["Commit could not be resolved"])
        comments = data.get("comments") or []
        if not isinstance(comments, list):
            raise Reply(422, "Invalid request.\n\nFor 'properties/comments', is not an array.")
        files = {f["filename"]: f for f in self._pr_files(owner, name, pr, head=commit_id)}
        for c in comments:
            self._check_thread(c, files)
        if event in ("REQUEST_CHANGES", "COMMENT") and not body and not comments:
            raise Reply(
                422,
                "Unprocessable Entity",
                errors=[f"Review body can't be blank when the event is {event}"],
            )
        if event == "APPROVE" and self.refuse_approvals:
            raise Reply(
                422,
                "Unprocessable Entity",
                errors=["Review Can not approve your own pull request"],
            )
        rid = self._new_id()
        api = f"{self.url}/repos/{owner}/{name}"
        html = f"https://github.com/{owner}/{name}/pull/{number}#pullrequestreview-{rid}"
        review: dict[str, Any] = {
            "id": rid,
            "node_id": "PRR_" + secrets.token_hex(6),
            "user": self._user(self.bot_login),
            "body": body,
            "state": REVIEW_EVENTS.get(event or "", "PENDING"),
            "html_url": html,
            "pull_request_url": f"{api}/pulls/{number}",
            "author_association": "NONE",
            "_links": {"html": {"href": html}, "pull_request": {"href": f"{api}/pulls/{number}"}},
            "submitted_at": iso() if event else None,
            "commit_id": commit_id,
            "event": event,  # as requested, so a test can assert the bot never approves
            "comments": [],
        }
        self.reviews.setdefault((owner, name, number), []).append(review)
        for c in comments:
            review["comments"].append(
                self._new_review_comment(
                    owner,
                    name,
                    number,
                    commit_id,
                    rid,
                    c,
                    self.bot_login,
                    "NONE",
                    None,
                    files=files,
                )
            )
        return web.json_response(self._review_json(review))

    def _check_thread(
        self: FakeGitHub, c: Any, files: dict[str, dict[str, Any]], single: bool = False
    ) -> None:
        """GitHub's refusal of a review comment that does not sit on the diff: as the reviews
        endpoint words it, or (`single`) as the review comments endpoint does."""
        if not isinstance(c, dict) or not isinstance(c.get("path"), str) or not c.get("body"):
            raise Reply(
                422, "Unprocessable Entity", errors=["Invalid comment: path and body are required"]
            )
        if "position" in c and "line" not in c:
            return
        f = files.get(c["path"])
        if f is None:
            raise Reply(422, "Unprocessable Entity", errors=["Path could not be resolved"])
        line, start = c.get("line"), c.get("start_line")
        if not isinstance(line, int):
            raise Reply(422, "Unprocessable Entity", errors=["Line could not be resolved"])
        right, left = diff_lines(f.get("patch"))
        side = c.get("side", "RIGHT")
        lines = left if side == "LEFT" else right
        problems = []  # (field, message)
        if line not in lines:
            problems.append(("line", "must be part of the diff"))
        if start is not None:
            start_lines = left if c.get("start_side", side) == "LEFT" else right
            if not isinstance(start, int) or start >= line:
                problems.append(("start_line", "must precede the end line."))
            elif start not in start_lines or start_lines[start] != lines.get(line):
                problems.append(("start_line", "must be part of the same hunk as the line."))
        if not problems:
            return
        if single:
            errors: list[Any] = [
                {
                    "resource": "PullRequestReviewComment",
                    "code": "custom",
                    "field": f"{THREAD_FIELD}.{field}",
                    "message": f"{THREAD_FIELD}.{field} {message}",
                }
                for field, message in problems
            ]
            errors.append(
                {
                    "resource": "PullRequestReviewComment",
                    "code": "missing_field",
                    "field": f"{THREAD_FIELD}.diff_hunk",
                }
            )
            raise Reply(422, "Validation Failed", errors=errors)
        texts = [THREAD + f"{field.replace('_', ' ')} {message}" for field, message in problems]
        texts.append(THREAD + "diff hunk can't be blank")
        joined = ", ".join(texts[:-1]) + (", and " if len(texts) > 2 else " and ") + texts[-1]
        raise Reply(422, "Unprocessable Entity", errors=[joined])

    # ---- review comments ------------------------------------------------------------------
    def _new_review_comment(
        self: FakeGitHub,
        owner: str,
        name: str,
        number: int,
        commit_id: str,
        review_id: int | None,
        c: dict[str, Any],
        user: str,
        association: str,
        in_reply_to: int | None,
        files: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        cid = self._new_id()
        api = f"{self.url}/repos/{owner}/{name}"
        html = f"https://github.com/{owner}/{name}/pull/{number}#discussion_r{cid}"
        if files is None:
            pr = self.pulls[(owner, name, number)]
            files = {f["filename"]: f for f in self._pr_files(owner, name, pr, head=commit_id)}
        patch = (files.get(c["path"]) or {}).get("patch") or ""
        side = c.get("side", "RIGHT")
        comment: dict[str, Any] = {
            "url": f"{api}/pulls/comments/{cid}",
            "pull_request_review_id": review_id or self._new_id(),
            "id": cid,
            "node_id": "PRRC_" + secrets.token_hex(6),
            "diff_hunk": _hunk_to(patch, c.get("line"), side),
            "path": c["path"],
            "commit_id": commit_id,
            "original_commit_id": commit_id,
            "user": self._user(user),
            "body": c["body"],
            "created_at": iso(),
            "updated_at": iso(),
            "html_url": html,
            "pull_request_url": f"{api}/pulls/{number}",
            "author_association": association,
            "_links": {
                "self": {"href": f"{api}/pulls/comments/{cid}"},
                "html": {"href": html},
                "pull_request": {"href": f"{api}/pulls/{number}"},
            },
            "start_line": c.get("start_line"),
            "original_start_line": c.get("start_line"),
            "start_side": c.get("start_side", side) if c.get("start_line") else None,
            "line": c.get("line"),
            "original_line": c.get("line"),
            "side": side,
            "subject_type": "line",
            "reactions": {"url": f"{api}/pulls/comments/{cid}/reactions", "total_count": 0},
        }
        if in_reply_to is not None:
            comment["in_reply_to_id"] = in_reply_to
        if user.endswith("[bot]"):
            comment["performed_via_github_app"] = {"id": self.app_id, "slug": self.app_slug}
        self.review_comments[cid] = comment
        self._review_comment_pr[cid] = (owner, name, number)
        return comment

    def _review_comment(self: FakeGitHub, request: web.Request) -> dict[str, Any]:
        owner, name = self._repo(request)
        cid = int(request.match_info["pcid"])
        if cid not in self.review_comments or self._review_comment_pr[cid][:2] != (owner, name):
            raise not_found()
        return self.review_comments[cid]

    async def _list_review_comments(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, pr = self._pr(request)
        return paginate(request, self.url, self.review_comments_on(owner, name, pr["number"]))

    async def _create_review_comment(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, pr = self._pr(request)
        data = await json_body(request)
        number = pr["number"]
        if isinstance(data.get("in_reply_to"), int):
            return await self._reply_to(request, data["in_reply_to"], data)
        commit_id = data.get("commit_id")
        if not isinstance(commit_id, str) or commit_id not in self.git.commits:
            raise validation_failed("PullRequestReviewComment", "missing_field", "commit_id")
        files = {f["filename"]: f for f in self._pr_files(owner, name, pr, head=commit_id)}
        self._check_thread(data, files, single=True)
        comment = self._new_review_comment(
            owner, name, number, commit_id, None, data, self.bot_login, "NONE", None, files
        )
        return web.json_response(comment, status=201)

    async def _list_pr_commits(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, pr = self._pr(request)
        commits = [
            self._commit_json(owner, name, self.git.commits[c], files=False)
            for c in reversed(self._pr_commits(owner, name, pr))
        ]
        return paginate(request, self.url, commits, cap=250)

    async def _get_review_comment(self: FakeGitHub, request: web.Request) -> web.Response:
        return web.json_response(self._review_comment(request))

    async def _patch_review_comment(self: FakeGitHub, request: web.Request) -> web.Response:
        comment = self._review_comment(request)
        comment["body"] = self._comment_body(await request.json())
        comment["updated_at"] = iso()
        return web.json_response(comment)

    async def _reply(self: FakeGitHub, request: web.Request) -> web.Response:
        return await self._reply_to(request, int(request.match_info["pcid"]), None)

    async def _reply_to(
        self: FakeGitHub, request: web.Request, cid: int, data: dict[str, Any] | None
    ) -> web.Response:
        """A bot reply in the thread of review comment `cid` (body from `data` or the request)."""
        owner, name, pr = self._pr(request)
        number = pr["number"]
        parent = self.review_comments.get(cid)
        if parent is None or self._review_comment_pr[cid] != (owner, name, number):
            raise not_found()
        body = self._comment_body(data if data is not None else await request.json())
        if "in_reply_to_id" in parent:
            # The REST description: "This must be the ID of a top-level review comment, not a
            # reply to that comment. Replies to replies are not supported."
            raise validation_failed(
                "PullRequestReviewComment",
                "invalid",
                "in_reply_to",
                message=REPLY_TO_REPLY,
            )
        reply = self._new_review_comment(
            owner,
            name,
            number,
            parent["commit_id"],
            None,
            {k: parent[k] for k in ("path", "line", "side", "start_line") if parent.get(k)}
            | {"body": body},
            self.bot_login,
            "NONE",
            cid,
        )
        reply["diff_hunk"] = parent["diff_hunk"]
        return web.json_response(reply, status=201)


def _hunk_to(patch: str, line: Any, side: str) -> str:
    """The diff hunk GitHub stores with a comment: its hunk, up to the commented line."""
    right, left = diff_lines(patch)
    lines = left if side == "LEFT" else right
    if not isinstance(line, int) or line not in lines:
        return ""
    out: list[str] = []
    hunk = -1
    old_no = new_no = 0
    for text in patch.splitlines():
        if text.startswith("@@"):
            hunk += 1
            if hunk > lines[line]:
                break
            out = [text]
            spans = text.split("@@")[1].split()
            old_no = int(spans[0][1:].split(",")[0])
            new_no = int(spans[1][1:].split(",")[0])
            continue
        if hunk < lines[line]:
            continue
        out.append(text)
        here = old_no if side == "LEFT" else new_no
        hit = here == line and (text[:1] in " -" if side == "LEFT" else text[:1] in " +")
        if text[:1] in " -":
            old_no += 1
        if text[:1] in " +":
            new_no += 1
        if hit:
            break
    return "\n".join(out)
