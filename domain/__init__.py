"""The factory's truth: tables, state machines, the ledger, rules as plain functions, the store.

Nothing here imports the layers above it or any I/O library but SQLModel/SQLAlchemy.
"""
