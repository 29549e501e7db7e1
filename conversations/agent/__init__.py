"""What field agents do in chat: check finished work from photos (QC), count deliveries in at the
central workshop, record workshop visits and see the work at risk of running late; and what they
(and the admins) are told about work moving through the factory.

``flows/`` (with their diagrams), ``commands.py`` (where each flow begins, and the menu's
answers), ``notices.py``, ``queries.py`` (reads) and ``menu.py``. Verifying new artisans, which
admins do too, is ``conversations.verification``. Imports nothing from the other roles;
conversations/registry.py puts it together.
"""
