"""The model: the streaming client, the tool loop, prompts and tools."""
