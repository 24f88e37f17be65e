"""A fake GitHub REST API on loopback (server.py: the server, auth, issues, comments, faults).

Test helpers, by module: server (add_installation, add_repo(files=), add_issue, add_comment,
comments_on, requests_to, fail_next, rate_limit_next, drop_next, stall_next, clear_faults,
revoke_tokens; knobs latency_ms, contents_write, workflows_write, refuse_approvals, tree_limit;
route_counts),
repos (push, force_push, add_file, add_fork, head_of, tree_of, branches_of), pulls (add_pr,
add_review_comment, reviews_on, review_comments_on), hooks (add_delivery).
"""

from tests.fake_github.server import FakeGitHub, RecordedRequest, generate_private_key_pem

__all__ = ["FakeGitHub", "RecordedRequest", "generate_private_key_pem"]
