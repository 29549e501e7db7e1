"""What admins do in chat: orders and the work they become, artisans, payouts and the factory's
figures; and what they (and the artisans) are told about payouts.

``flows/`` (with their diagrams), ``commands.py`` (one table from ``orders.py``, ``people.py``,
``payouts.py`` and ``reports.py``; ``replies.py`` is how they answer), ``notices.py``,
``queries.py`` (reads) and ``menu.py``. Verifying new artisans, which field agents do too, is
``conversations.verification``. Imports nothing from the other roles;
conversations/registry.py puts it together.
"""
