"""A repository's files at one commit, and the changes a run makes over them."""
