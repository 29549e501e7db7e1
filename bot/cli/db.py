"""``karakana db``: create the database or bring it up to the newest schema."""

from __future__ import annotations

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.cli.common import fail, load_settings, say, unreachable
from bot.db.database import hide_password, upgrade_database
from bot.settings import Settings

app = typer.Typer(help="Create or upgrade the database.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create the database, or bring it up to the newest schema. Safe to run again."""
    settings = load_settings()
    upgrade(settings)
    say(f"The database at {hide_password(settings.database_url)} is up to date.")


def upgrade(settings: Settings) -> None:
    try:
        upgrade_database(settings.database_url)
    except (OperationalError, DBAPIError, OSError) as exc:
        fail(unreachable(settings, exc))
