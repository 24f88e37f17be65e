"""A run watched live: the fan-out, the SSE stream, presence, cancel."""
