"""Operators: the people who log into the web console at /admin/ (not API keys, not recipients)."""
