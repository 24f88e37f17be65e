"""Server-rendered pages in the live page's look."""
