"""Repository settings from `.github/livebot.yml`."""
