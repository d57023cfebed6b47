"""Access: API keys with roles, console users, rate limits."""
