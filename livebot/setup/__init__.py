"""`livebot setup`: the App manifest and GitHub's manifest flow."""
