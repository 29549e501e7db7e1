"""The database: Alembic migrations run in code (``database``, scripts in ``migrations/``) and
SQLite without aiosqlite's worker thread (``sqlite_inline``)."""
