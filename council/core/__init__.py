"""Settings, the database engine and session factory, migrations and the durable job runner."""
