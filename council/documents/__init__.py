"""Content-addressed file store, upload checks and PDF text extraction (a job)."""
