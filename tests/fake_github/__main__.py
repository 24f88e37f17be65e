"""`python -m tests.fake_github`: run the fake GitHub standalone."""

from tests.fake_github.server import main

main()
