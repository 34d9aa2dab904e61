"""Job functions of council.search (registered with council.core.jobs.job)."""
