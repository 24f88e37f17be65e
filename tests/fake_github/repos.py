"""Repository content on the fake GitHub: the git model, its test helpers, and the read and
write (Git Data) endpoints: contents, tarball, trees, blobs, commits, branches, refs."""

from __future__ import annotations

import base64
import gzip
import io
import re
import tarfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fake_github.common import (
    Reply,
    forbidden_integration,
    iso,
    json_body,
    not_found,
)
from tests.fake_github.gitmodel import BLOB_MODE, Commit, is_binary

if TYPE_CHECKING:
    from tests.fake_github.server import FakeGitHub

Files = Mapping[str, "str | bytes | None"]  # path: new content, None deletes it
MODES = {"100644", "100755", "040000", "160000", "120000"}
TREE_LIMIT = 100_000  # entries a recursive tree lists before `truncated`, as GitHub caps it
WORKFLOWS = ".github/workflows/"
WORKFLOW_REFUSAL = (
    "refusing to allow a GitHub App to create or update workflow `{path}` without "
    "`workflows` permission"
)
EMPTY = "Git Repository is empty."
SHA_RE = re.compile(r"[0-9a-f]{7,40}")


class RepoContent:
    """Mixin of FakeGitHub: the git model and the endpoints that read or write it."""

    def _content_routes(self: FakeGitHub, r: web.UrlDispatcher, repo: str) -> None:
        r.add_get(repo + "/contents", self._get_contents)
        r.add_get(repo + "/contents/{path:.+}", self._get_contents)
        r.add_get(repo + "/tarball", self._tarball)
        r.add_get(repo + "/tarball/{ref:.+}", self._tarball)
        r.add_get("/_codeload/{owner}/{repo}/legacy.tar.gz/{sha}", self._codeload)
        r.add_get(repo + "/git/trees/{sha:.+}", self._get_tree)
        r.add_get(repo + "/git/blobs/{sha}", self._get_blob)
        r.add_get(repo + "/git/commits/{sha}", self._get_git_commit)
        r.add_get(repo + "/commits/{ref:.+}", self._get_commit)
        r.add_get(repo + "/branches/{branch:.+}", self._get_branch)
        r.add_get(repo + "/git/ref/{ref:.+}", self._get_ref)
        r.add_post(repo + "/git/blobs", self._post_blob)
        r.add_post(repo + "/git/trees", self._post_tree)
        r.add_post(repo + "/git/commits", self._post_commit)
        r.add_post(repo + "/git/refs", self._post_ref)
        r.add_patch(repo + "/git/refs/{ref:.+}", self._patch_ref)
        r.add_delete(repo + "/git/refs/{ref:.+}", self._delete_ref)

    # ---- test helpers ---------------------------------------------------------------------
    def push(
        self: FakeGitHub,
        owner: str,
        name: str,
        branch: str,
        files: Files,
        message: str = "Update files",
        parent: str | None = None,
    ) -> str:
        """Commit `files` (path: text, bytes, or None to delete) on top of `parent` (default:
        the branch's head, else the default branch's head) and move the branch there; the sha."""
        if parent is None:
            parent = self.head_of(owner, name, branch) or self.head_of(owner, name)
        return self._commit_on(owner, name, branch, files, message, parent)

    def _commit_on(
        self: FakeGitHub,
        owner: str,
        name: str,
        branch: str,
        files: Files,
        message: str,
        parent: str | None,
    ) -> str:
        base = self.git.flat(parent) if parent else {}
        tree = self.git.put_tree(self._apply(base, files))
        commit = self.git.put_commit(tree, [parent] if parent else [], message)
        self.refs[(owner, name)]["refs/heads/" + branch] = commit.sha
        self.repos[(owner, name)]["pushed_at"] = iso()
        return commit.sha

    def force_push(
        self: FakeGitHub,
        owner: str,
        name: str,
        branch: str,
        files: Files,
        message: str = "Rewritten",
        onto: str | None = None,
        orphan: bool = False,
    ) -> str:
        """Rewrite the branch: a commit of `files` on `onto` (default: where the branch forked
        from the default branch), or with no parent at all (`orphan`); the old head is kept in
        the object store but no longer reachable from the branch."""
        if orphan:
            return self._commit_on(owner, name, branch, files, message, None)
        if onto is None:
            default = self.head_of(owner, name) or ""
            onto = self.git.merge_base(self.head_of(owner, name, branch) or "", default) or default
        return self._commit_on(owner, name, branch, files, message, onto)

    def add_file(self: FakeGitHub, owner: str, name: str, path: str, text: str) -> str:
        """Commit one file on the repository's default branch; the commit's sha."""
        branch = self.repos[(owner, name)]["default_branch"]
        return self.push(owner, name, branch, {path: text}, f"Add {path}")

    def add_fork(self: FakeGitHub, owner: str, name: str, fork_owner: str) -> dict[str, Any]:
        """Fork `owner/name` under `fork_owner` (same objects, same branches)."""
        parent = self.repos[(owner, name)]
        fork = self.add_repo(fork_owner, name, parent["description"], parent["default_branch"])
        fork.update(fork=True, parent=parent, source=parent)
        self.refs[(fork_owner, name)] = {
            k: v for k, v in self.refs[(owner, name)].items() if k.startswith("refs/heads/")
        }
        return fork

    def head_of(self: FakeGitHub, owner: str, name: str, branch: str | None = None) -> str | None:
        """The sha a branch (default: the default branch) points to, None if it does not exist."""
        branch = branch or self.repos[(owner, name)]["default_branch"]
        return self.refs[(owner, name)].get("refs/heads/" + branch)

    def tree_of(self: FakeGitHub, owner: str, name: str, ref: str | None = None) -> dict[str, Any]:
        """The files at a branch or sha as {path: text} (bytes for binary files)."""
        sha = self._resolve(owner, name, ref or self.repos[(owner, name)]["default_branch"])
        if sha is None:
            raise KeyError(f"no ref {ref!r} in {owner}/{name}")
        out: dict[str, Any] = {}
        for path, (_, blob) in sorted(self.git.flat(sha).items()):
            raw = self.git.blobs[blob]
            out[path] = raw if is_binary(raw) else raw.decode()
        return out

    def branches_of(self: FakeGitHub, owner: str, name: str) -> dict[str, str]:
        """{branch: sha} of a repository."""
        return {
            k.removeprefix("refs/heads/"): v
            for k, v in self.refs[(owner, name)].items()
            if k.startswith("refs/heads/")
        }

    # ---- model plumbing -------------------------------------------------------------------
    def _apply(
        self: FakeGitHub, base: dict[str, tuple[str, str]], files: Files
    ) -> dict[str, tuple[str, str]]:
        flat = dict(base)
        for path, content in files.items():
            path = path.strip("/")
            if content is None:
                flat.pop(path, None)
            else:
                raw = content.encode() if isinstance(content, str) else content
                flat[path] = (BLOB_MODE, self.git.put_blob(raw))
        return flat

    def _resolve(self: FakeGitHub, owner: str, name: str, ref: str) -> str | None:
        """A branch, tag, full ref, `pull/N/head` or (abbreviated) sha to a commit sha."""
        refs = self.refs.get((owner, name), {})
        if ref == "HEAD":
            ref = self.repos[(owner, name)]["default_branch"]
        pull = re.fullmatch(r"(?:refs/)?pull/(\d+)/head", ref)
        if pull:
            pr = self.pulls.get((owner, name, int(pull.group(1))))
            return self._pr_head_sha(pr) if pr else None
        for candidate in (ref, "refs/" + ref, "refs/heads/" + ref, "refs/tags/" + ref):
            if candidate in refs:
                return refs[candidate]
        if SHA_RE.fullmatch(ref):
            if ref in self.git.commits:
                return ref
            hits = [s for s in self.git.commits if s.startswith(ref)]
            return hits[0] if len(hits) == 1 else None
        return None

    def _commit_at(self: FakeGitHub, request: web.Request, ref: str | None) -> Commit:
        owner, name = self._repo(request)
        if ref is None:
            ref = self.repos[(owner, name)]["default_branch"]
        sha = self._resolve(owner, name, ref)
        if sha is None:
            if not self.refs[(owner, name)]:
                raise Reply(409, EMPTY)
            raise not_found(f"No commit found for the ref {ref}")
        return self.git.commits[sha]

    def _check_contents_write(self: FakeGitHub) -> None:
        if not self.contents_write:
            raise forbidden_integration()

    def _user_min(self: FakeGitHub, who: dict[str, str]) -> dict[str, str]:
        return {"name": who["name"], "email": who["email"], "date": who["date"]}

    def _git_commit_json(self: FakeGitHub, owner: str, name: str, c: Commit) -> dict[str, Any]:
        api = f"{self.url}/repos/{owner}/{name}"
        return {
            "sha": c.sha,
            "node_id": "C_" + c.sha[:12],
            "url": f"{api}/git/commits/{c.sha}",
            "html_url": f"https://github.com/{owner}/{name}/commit/{c.sha}",
            "author": self._user_min(c.author),
            "committer": self._user_min(c.committer),
            "tree": {"sha": c.tree, "url": f"{api}/git/trees/{c.tree}"},
            "message": c.message,
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/git/commits/{p}",
                    "html_url": f"https://github.com/{owner}/{name}/commit/{p}",
                }
                for p in c.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
            },
        }

    def _commit_json(
        self: FakeGitHub, owner: str, name: str, c: Commit, files: bool = True
    ) -> dict[str, Any]:
        """A commit as the commits and compare APIs show it."""
        api = f"{self.url}/repos/{owner}/{name}"
        git = self._git_commit_json(owner, name, c)
        out: dict[str, Any] = {
            "sha": c.sha,
            "node_id": git["node_id"],
            "commit": {
                "author": git["author"],
                "committer": git["committer"],
                "message": c.message,
                "tree": git["tree"],
                "url": git["url"],
                "comment_count": 0,
                "verification": git["verification"],
            },
            "url": f"{api}/commits/{c.sha}",
            "html_url": git["html_url"],
            "comments_url": f"{api}/commits/{c.sha}/comments",
            "author": self._user("octocat"),
            "committer": self._user("web-flow"),
            "parents": [
                {"sha": p["sha"], "url": f"{api}/commits/{p['sha']}", "html_url": p["html_url"]}
                for p in git["parents"]
            ],
        }
        if files:
            changed = self._files_json(owner, name, c.sha, c.parents[0] if c.parents else None)
            adds = sum(f["additions"] for f in changed)
            dels = sum(f["deletions"] for f in changed)
            out["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
            out["files"] = changed
        return out

    def _ref_json(self: FakeGitHub, owner: str, name: str, ref: str, sha: str) -> dict[str, Any]:
        api = f"{self.url}/repos/{owner}/{name}"
        return {
            "ref": ref,
            "node_id": "REF_" + sha[:12],
            "url": f"{api}/git/{ref}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
        }

    # ---- read handlers --------------------------------------------------------------------
    async def _get_contents(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        path = request.match_info.get("path", "").strip("/")
        if not self.refs[(owner, name)]:
            raise not_found("This repository is empty.")
        ref = request.query.get("ref") or self.repos[(owner, name)]["default_branch"]
        commit = self._commit_at(request, ref)
        flat = self.git.flat(commit.sha)
        api = f"{self.url}/repos/{owner}/{name}"

        def entry(p: str, kind: str, sha: str, size: int) -> dict[str, Any]:
            html = f"https://github.com/{owner}/{name}/{'blob' if kind == 'file' else 'tree'}"
            html += f"/{ref}/{p}"
            git = f"{api}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}"
            return {
                "type": kind,
                "size": size,
                "name": p.rsplit("/", 1)[-1],
                "path": p,
                "sha": sha,
                "url": f"{api}/contents/{p}?ref={ref}",
                "git_url": git,
                "html_url": html,
                "download_url": (
                    f"https://raw.githubusercontent.com/{owner}/{name}/{ref}/{p}"
                    if kind == "file"
                    else None
                ),
                "_links": {"self": f"{api}/contents/{p}?ref={ref}", "git": git, "html": html},
            }

        if path in flat:
            raw = self.git.blobs[flat[path][1]]
            b64 = base64.b64encode(raw).decode()
            return web.json_response(
                {
                    **entry(path, "file", flat[path][1], len(raw)),
                    "encoding": "base64",
                    "content": "".join(b64[i : i + 60] + "\n" for i in range(0, len(b64), 60)),
                }
            )
        prefix = path + "/" if path else ""
        children: dict[str, dict[str, Any]] = {}
        for p, (_, sha) in flat.items():
            if not p.startswith(prefix):
                continue
            head, sep, _ = p[len(prefix) :].partition("/")
            if sep:
                sub = {
                    k[len(prefix + head) + 1 :]: v
                    for k, v in flat.items()
                    if k.startswith(prefix + head + "/")
                }
                children[head] = entry(prefix + head, "dir", self.git.put_tree(sub), 0)
            else:
                children[head] = entry(p, "file", sha, len(self.git.blobs[sha]))
        if not children:
            raise not_found()
        return web.json_response([children[k] for k in sorted(children)])

    async def _tarball(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        commit = self._commit_at(request, request.match_info.get("ref"))
        location = f"{self.url}/_codeload/{owner}/{name}/legacy.tar.gz/{commit.sha}"
        return web.Response(status=302, headers={"Location": location})

    async def _codeload(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name, sha = (request.match_info[k] for k in ("owner", "repo", "sha"))
        if (owner, name) not in self.repos or sha not in self.git.commits:
            return web.Response(status=404, text="404: Not Found")
        top = f"{owner}-{name}-{sha[:7]}/"
        buf = io.BytesIO()
        with tarfile.open(
            fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": sha}
        ) as tar:
            dirs: set[str] = set()
            for path, (mode, blob) in sorted(self.git.flat(sha).items()):
                parts = path.split("/")[:-1]
                for i in range(len(parts) + 1):
                    folder = top + "/".join(parts[:i])
                    if folder not in dirs:
                        dirs.add(folder)
                        info = tarfile.TarInfo(folder.rstrip("/") + "/")
                        info.type, info.mode = tarfile.DIRTYPE, 0o775
                        tar.addfile(info)
                raw = self.git.blobs[blob]
                info = tarfile.TarInfo(top + path)
                info.size, info.mode = len(raw), int(mode[-3:], 8)
                tar.addfile(info, io.BytesIO(raw))
        response = web.Response(
            body=gzip.compress(buf.getvalue()),
            headers={
                "Content-Type": "application/x-gzip",
                "Content-Disposition": f"attachment; filename={owner}-{name}-{sha[:7]}.tar.gz",
                "ETag": f'"{sha}"',
            },
        )
        # Codeload streams archives: no Content-Length, so a client learns the size by reading.
        response.enable_chunked_encoding()
        return response

    async def _get_tree(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        ref = request.match_info["sha"]
        if ref in self.git.trees:
            flat = self.git.trees[ref]
            sha = ref
        else:
            commit_sha = self._resolve(owner, name, ref)
            if commit_sha is None:
                raise not_found()
            sha = self.git.commits[commit_sha].tree
            flat = self.git.trees[sha]
        recursive = request.query.get("recursive") not in (None, "", "0", "false")
        api = f"{self.url}/repos/{owner}/{name}"
        entries = []
        for path, kind, mode, obj in self.git.walk(flat, recursive):
            item: dict[str, Any] = {"path": path, "mode": mode, "type": kind, "sha": obj}
            if kind == "blob":
                item["size"] = len(self.git.blobs[obj])
            item["url"] = f"{api}/git/{kind}s/{obj}"
            entries.append(item)
        return web.json_response(
            {
                "sha": sha,
                "url": f"{api}/git/trees/{sha}",
                "tree": entries[: self.tree_limit],
                "truncated": len(entries) > self.tree_limit,
            }
        )

    async def _get_blob(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        sha = request.match_info["sha"]
        raw = self.git.blobs.get(sha)
        if raw is None:
            raise not_found()
        return web.json_response(
            {
                "sha": sha,
                "node_id": "B_" + sha[:12],
                "size": len(raw),
                "url": f"{self.url}/repos/{owner}/{name}/git/blobs/{sha}",
                "content": base64.encodebytes(raw).decode(),
                "encoding": "base64",
            }
        )

    async def _get_git_commit(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        commit = self.git.commits.get(request.match_info["sha"])
        if commit is None:
            raise not_found()
        return web.json_response(self._git_commit_json(owner, name, commit))

    async def _get_commit(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        ref = request.match_info["ref"]
        sha = self._resolve(owner, name, ref)
        if sha is None and not self.refs[(owner, name)]:
            raise Reply(409, EMPTY)
        if sha is None:
            raise Reply(422, f"No commit found for SHA: {ref}")
        return web.json_response(self._commit_json(owner, name, self.git.commits[sha]))

    async def _get_branch(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        branch = request.match_info["branch"]
        sha = self.head_of(owner, name, branch)
        if sha is None:
            raise not_found("Branch not found")
        api = f"{self.url}/repos/{owner}/{name}"
        return web.json_response(
            {
                "name": branch,
                "commit": self._commit_json(owner, name, self.git.commits[sha], files=False),
                "_links": {
                    "self": f"{api}/branches/{branch}",
                    "html": f"https://github.com/{owner}/{name}/tree/{branch}",
                },
                "protected": False,
                "protection": {
                    "enabled": False,
                    "required_status_checks": {
                        "enforcement_level": "off",
                        "contexts": [],
                        "checks": [],
                    },
                },
                "protection_url": f"{api}/branches/{branch}/protection",
            }
        )

    async def _get_ref(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        ref = "refs/" + request.match_info["ref"]
        sha = self.refs[(owner, name)].get(ref)
        if sha is None:
            raise not_found()
        return web.json_response(self._ref_json(owner, name, ref, sha))

    # ---- Git Data writes ------------------------------------------------------------------
    async def _post_blob(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        self._check_contents_write()
        data = await json_body(request)
        content, encoding = data.get("content"), data.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise Reply(422, 'Invalid request.\n\n"content" wasn\'t supplied.')
        if encoding not in ("utf-8", "base64"):
            raise Reply(
                422, f'Invalid request.\n\n{encoding!r} is not a valid value for "encoding".'
            )
        try:
            raw = base64.b64decode(content) if encoding == "base64" else content.encode()
        except ValueError:
            raise Reply(422, "Invalid request.\n\nThe content is not valid Base64.") from None
        sha = self.git.put_blob(raw)
        return web.json_response(
            {"url": f"{self.url}/repos/{owner}/{name}/git/blobs/{sha}", "sha": sha}, status=201
        )

    async def _post_tree(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        self._check_contents_write()
        data = await json_body(request)
        base_sha = data.get("base_tree")
        items = data.get("tree")
        if not isinstance(items, list):
            raise Reply(422, 'Invalid request.\n\n"tree" wasn\'t supplied.')
        if base_sha is not None and base_sha not in self.git.trees:
            raise Reply(422, "base_tree is not a valid tree oid")
        flat = dict(self.git.trees[base_sha]) if base_sha else {}
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise Reply(422, "Invalid tree info")
            path, mode = item["path"].strip("/"), item.get("mode", BLOB_MODE)
            if mode not in MODES or item.get("type", "blob") != "blob" or not path:
                raise Reply(422, "Invalid tree info", errors=[f"Invalid tree entry {path!r}"])
            if "content" in item and item["content"] is not None:
                flat[path] = (mode, self.git.put_blob(str(item["content"]).encode()))
            elif item.get("sha") is None:
                flat.pop(path, None)
            elif item["sha"] in self.git.blobs:
                flat[path] = (mode, item["sha"])
            else:
                raise Reply(422, "Invalid tree info", errors=[f"Invalid sha for {path!r}"])
        sha = self.git.put_tree(flat)
        api = f"{self.url}/repos/{owner}/{name}"
        entries = [
            {"path": p, "mode": m, "type": k, "sha": s, "url": f"{api}/git/{k}s/{s}"}
            for p, k, m, s in self.git.walk(flat, recursive=False)
        ]
        return web.json_response(
            {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": entries, "truncated": False},
            status=201,
        )

    async def _post_commit(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        self._check_contents_write()
        data = await json_body(request)
        message, tree, parents = data.get("message"), data.get("tree"), data.get("parents", [])
        if not isinstance(message, str) or not isinstance(tree, str):
            raise Reply(422, 'Invalid request.\n\n"message", "tree" weren\'t supplied.')
        if tree not in self.git.trees:
            raise Reply(422, "Tree SHA does not exist")
        if not isinstance(parents, list) or any(p not in self.git.commits for p in parents):
            raise Reply(422, "Parent SHA does not exist or is not a commit object")
        bot = {"name": self.bot_login, "email": f"{self.app_id}+{self.bot_login}@users.noreply"}
        author = data.get("author") if isinstance(data.get("author"), dict) else None
        commit = self.git.put_commit(
            tree,
            parents,
            message,
            author={**bot, "date": iso(), **(author or {})},
            committer={**bot, "date": iso()},
        )
        return web.json_response(self._git_commit_json(owner, name, commit), status=201)

    def _check_workflows(self: FakeGitHub, old: str | None, new: str) -> None:
        if self.workflows_write:
            return
        before = self.git.flat(old) if old else {}
        after = self.git.flat(new)
        for path in sorted(set(before) | set(after)):
            if path.startswith(WORKFLOWS) and before.get(path) != after.get(path):
                raise Reply(422, WORKFLOW_REFUSAL.format(path=path))

    async def _post_ref(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        self._check_contents_write()
        data = await json_body(request)
        ref, sha = data.get("ref"), data.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise Reply(422, 'Invalid request.\n\n"ref", "sha" weren\'t supplied.')
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise Reply(422, "Reference name is not valid")
        if sha not in self.git.commits:
            raise Reply(422, "Object does not exist")
        refs = self.refs[(owner, name)]
        if ref in refs:
            raise Reply(422, "Reference already exists")
        base = self.git.commits[sha].parents
        self._check_workflows(base[0] if base else None, sha)
        refs[ref] = sha
        resp = web.json_response(self._ref_json(owner, name, ref, sha), status=201)
        resp.headers["Location"] = f"{self.url}/repos/{owner}/{name}/git/{ref}"
        return resp

    async def _patch_ref(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        self._check_contents_write()
        data = await json_body(request)
        ref, sha = "refs/" + request.match_info["ref"], data.get("sha")
        refs = self.refs[(owner, name)]
        if ref not in refs:
            raise Reply(422, "Reference does not exist")
        if not isinstance(sha, str) or sha not in self.git.commits:
            raise Reply(422, "Object does not exist")
        if not data.get("force") and refs[ref] not in self.git.ancestors(sha):
            raise Reply(422, "Update is not a fast forward")
        self._check_workflows(refs[ref], sha)
        refs[ref] = sha
        return web.json_response(self._ref_json(owner, name, ref, sha))

    async def _delete_ref(self: FakeGitHub, request: web.Request) -> web.Response:
        owner, name = self._repo(request)
        self._check_contents_write()
        ref = "refs/" + request.match_info["ref"]
        if self.refs[(owner, name)].pop(ref, None) is None:
            raise Reply(422, "Reference does not exist")
        return web.Response(status=204)
