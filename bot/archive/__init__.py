"""The archive: finished runs kept in PostgreSQL after their Redis log expires."""
