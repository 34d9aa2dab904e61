"""Search index tables and their dialect-specific DDL."""
