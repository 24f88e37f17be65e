"""What maintainers taught Livebot about a repository, kept until they make it forget."""
