"""Run Chalice Jobs offline: Redis, workers and `chalice local` (`python -m local --help`)."""
