"""The aiohttp application: webhook endpoint, live pages, SSE, accounts, health."""
