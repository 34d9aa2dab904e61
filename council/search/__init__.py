"""Full-text search with German stemming: SQLite FTS5 on pre-stemmed text, or PostgreSQL tsvector."""
