"""The flows no single role owns: ``registration`` (where a stranger lands) and ``menu`` (the
main menu every registered person comes back to, built from the roles' menus).

Each role's own flows live in its package (``conversations/artisan/flows/``,
``conversations/agent/flows/``, ``conversations/admin/flows/``), each module with its Mermaid
diagram beside it; conversations/registry.py collects them all by name.
"""
