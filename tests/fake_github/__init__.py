"""A fake GitHub REST API on loopback (see tests.fake_github.server)."""

from tests.fake_github.server import FakeGitHub, RecordedRequest, generate_private_key_pem

__all__ = ["FakeGitHub", "RecordedRequest", "generate_private_key_pem"]
