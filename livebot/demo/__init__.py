"""`livebot demo`: recorded runs replayed through the real run log."""
