"""The workflows: answer, goal, resolve, review, and replies that need no model."""
