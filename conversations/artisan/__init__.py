"""What artisans do in chat: answer job offers, send finished work, deliver it, report
materials, and see their jobs, earnings and score; and what they are told when something
happens to their work.

``flows/`` (with their diagrams), ``commands.py`` (the offer and photo buttons and the codes typed
without them), ``notices.py``, ``queries.py`` (reads), ``views.py`` (how offers and jobs read),
``menu.py``, and the three menu answers that need no flow: ``my_jobs``, ``earnings``,
``my_score``. Imports nothing from the other roles; conversations/registry.py puts it together.
"""
