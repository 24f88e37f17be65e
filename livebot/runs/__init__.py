"""A run: its log of events, its placeholder, its end, its price."""
