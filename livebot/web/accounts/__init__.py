"""Sign-in with GitHub and browser sessions."""
