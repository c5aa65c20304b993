"""Writing row batches into Postgres: encoders, the worker pool, dispositions and the one commit."""
