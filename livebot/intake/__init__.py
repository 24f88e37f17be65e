"""Where a webhook becomes a job: one router per feature, mentions, commands."""
