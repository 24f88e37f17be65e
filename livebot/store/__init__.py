"""Redis: the client (single node or Cluster), every key name, the Lua scripts."""
