"""The `livebot` command: composes bot/ (GitHub, workflows, jobs) and web/ (HTTP) into a process."""
