"""Settings, logs, metrics and small async helpers: imports nothing of livebot's."""
