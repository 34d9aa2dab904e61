"""Accounts and server-side sessions (tables)."""
