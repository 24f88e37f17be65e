"""The review workflow: scope, files, findings, posting."""
