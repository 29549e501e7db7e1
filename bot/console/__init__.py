"""The staff web console at ``/console``: field agents and admins log in with a one-time code
sent over their own chat channel, and see the factory, orders, jobs, artisans, payouts and impact
as server-rendered pages (Jinja2 templates and one stylesheet, all in this package), with CSV
exports. ``bot/main.py`` builds a ``Console`` and mounts ``console_routes`` beside the channels;
docs/security.md says what protects it and which tests show it."""

from bot.console.app import Console
from bot.console.auth import Cookies
from bot.console.routes import console_routes

__all__ = ["Console", "Cookies", "console_routes"]
