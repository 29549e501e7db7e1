"""Domain services: the factory's use cases as async functions over a session.

Each takes the session first and the time as ``now`` (aware UTC), changes tables only through
their transition tables, records domain events, and never commits: the caller's
``store.transaction()`` is the unit of work.
"""
