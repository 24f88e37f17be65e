"""The operator's checks: at every start, and `livebot check`."""
