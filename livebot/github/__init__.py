"""GitHub: the App client, payload checks, comment texts, Git Data, redelivery."""
