"""Job functions of council.documents (registered with council.core.jobs.job)."""
