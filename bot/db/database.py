"""The database's schema version: upgrade it with Alembic, and refuse to run on one left behind.

Alembic is configured in code (no alembic.ini): the scripts live in ``bot/db/migrations`` and ship
inside the package. ``upgrade_database`` is what ``karakana db upgrade`` runs;
``check_database_current`` is what the app runs before it starts.

For developers, ``python -m bot.db.database revision "add outbox"`` autogenerates the next revision
from the difference between the models and a database migrated to head (see
bot/db/migrations/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, MetaData, inspect, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from domain.model.ledger import append_only_trigger_names

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "karakana db upgrade"

T = TypeVar("T")


class DatabaseNotCurrent(Exception):
    """The database's schema is not the one this code was written for."""

    def __init__(self, message: str, *, current: str | None, head: str) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class DatabaseBehindMigrations(DatabaseNotCurrent):
    """The database is empty or at an older revision; upgrading it fixes that."""

    def __init__(self, url: str, *, current: str | None, head: str) -> None:
        where = f"the database at {hide_password(url)}"
        state = "has no migrations applied" if current is None else f"is at revision {current}"
        super().__init__(
            f"{where} {state} but the code needs {head}; run `{UPGRADE_COMMAND}`",
            current=current,
            head=head,
        )


class DatabaseAheadOfCode(DatabaseNotCurrent):
    """The database was migrated by a newer Karakana; `karakana db upgrade` here cannot help."""

    def __init__(self, url: str, *, current: str, head: str) -> None:
        super().__init__(
            f"the database at {hide_password(url)} is at revision {current}, which this version "
            f"of Karakana does not know (it needs {head}); run the newer Karakana that migrated "
            "it, or downgrade the database with that version",
            current=current,
            head=head,
        )


def hide_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def target_metadata() -> MetaData:
    """Every table the migrations manage: import each module that declares tables here."""
    import domain.model  # noqa: F401  (registers the factory's tables on SQLModel.metadata)

    return SQLModel.metadata


def alembic_config(url: str | None = None, *, migrations: Path = MIGRATIONS) -> Config:
    """Alembic's settings, built in code; ``migrations`` is the scripts folder."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("path_separator", "os")
    # Readable file names: versions/0002_add_outbox.py
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["url"] = url  # attributes, not the ini: a password may contain '%'
    return config


def head_revision(*, migrations: Path = MIGRATIONS) -> str:
    """The revision this code needs the database to be at."""
    head = _scripts(migrations).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {migrations}; the installation is broken")
    return head


def upgrade_database(url: str, *, migrations: Path = MIGRATIONS) -> None:
    """Create or upgrade the database at ``url`` to the newest revision; a no-op when current.

    Synchronous, as the CLI calls it. From async code use ``await asyncio.to_thread(...)``:
    Alembic drives its own event loop.
    """
    _refuse_inside_event_loop("upgrade_database")
    _create_sqlite_folder(url)
    command.upgrade(alembic_config(url, migrations=migrations), "head")


def downgrade_database(url: str, revision: str, *, migrations: Path = MIGRATIONS) -> None:
    """Take the database back to ``revision`` (``"base"`` removes every table)."""
    _refuse_inside_event_loop("downgrade_database")
    command.downgrade(alembic_config(url, migrations=migrations), revision)


async def current_revision(url: str) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return None  # connecting would create an empty file as a side effect
    return await _with_connection(url, _current_revision)


async def check_database_current(url: str, *, migrations: Path = MIGRATIONS) -> None:
    """Raise ``DatabaseNotCurrent`` unless the database is at exactly the code's revision."""
    current, head = await current_revision(url), head_revision(migrations=migrations)
    if current == head:
        return
    if current is not None and not _is_known(current, migrations):
        raise DatabaseAheadOfCode(url, current=current, head=head)
    raise DatabaseBehindMigrations(url, current=current, head=head)


async def model_differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty: in sync),
    then ``("add_trigger", name)`` / ``("remove_trigger", name)`` for the ledger's append-only
    triggers and ``("add_check", name)`` / ``("remove_check", name)`` for CHECK constraints
    (domain/limits.py), which autogenerate does not see either."""
    return await _with_connection(url, _compare_with_models)


async def database_checks(url: str) -> dict[str, str]:
    """Every named CHECK constraint in the database with its condition as the database reports
    it, to compare two ways of building a schema."""
    return await _with_connection(url, _checks)


async def database_triggers(url: str) -> dict[str, str]:
    """Every trigger in the database, by name, with its definition as the database reports it
    (on PostgreSQL followed by its function's), to compare two ways of building a schema."""
    return await _with_connection(url, _triggers)


def make_revision(message: str, *, url: str | None = None, empty: bool = False) -> Path:
    """Write the next revision, autogenerated against ``url`` (default: a scratch SQLite file).

    The database is upgraded to head first, so the new revision holds only what changed since.
    """
    with tempfile.TemporaryDirectory() as scratch:
        url = url or f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}"
        upgrade_database(url)
        if not empty and not asyncio.run(model_differences(url)):
            raise SystemExit("the models match the migrations: there is nothing to generate")
        config = alembic_config(url)
        _format_with_ruff(config)
        script = command.revision(
            config, message=message, autogenerate=not empty, rev_id=_next_revision_id()
        )
    if script is None or isinstance(script, list):  # only with several version folders
        raise RuntimeError(f"expected one new revision, Alembic wrote {script!r}")
    return Path(script.path)


def _refuse_inside_event_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop running: Alembic may start its own
    raise RuntimeError(
        f"{name} runs its own event loop; from async code call it as "
        f"`await asyncio.to_thread({name}, url)`"
    )


def _scripts(migrations: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(migrations=migrations))


def _next_revision_id() -> str:
    return f"{sum(1 for _ in _scripts(MIGRATIONS).walk_revisions()) + 1:04d}"


def _is_known(revision: str, migrations: Path) -> bool:
    return any(script.revision == revision for script in _scripts(migrations).walk_revisions())


def _format_with_ruff(config: Config) -> None:
    if find_spec("ruff") is None:  # ruff is a dev dependency; format by hand without it
        return
    config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
    for name, options in (("ruff_fix", "check --fix --quiet"), ("ruff_format", "format --quiet")):
        config.set_section_option("post_write_hooks", f"{name}.type", "module")
        config.set_section_option("post_write_hooks", f"{name}.module", "ruff")
        config.set_section_option(
            "post_write_hooks", f"{name}.options", f"{options} REVISION_SCRIPT_FILENAME"
        )


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _create_sqlite_folder(url: str) -> None:
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


async def _with_connection(url: str, work: Callable[[Connection], T]) -> T:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _compare_with_models(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = list(compare_metadata(context, target_metadata()))
    wanted = append_only_trigger_names(connection.dialect.name)
    present = set(_triggers(connection))
    differences += [("add_trigger", name) for name in sorted(wanted - present)]
    differences += [("remove_trigger", name) for name in sorted(present - wanted)]
    wanted_checks = {
        str(constraint.name)
        for table in target_metadata().tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }
    present_checks = set(_checks(connection))
    differences += [("add_check", name) for name in sorted(wanted_checks - present_checks)]
    differences += [("remove_check", name) for name in sorted(present_checks - wanted_checks)]
    return differences


def _checks(connection: Connection) -> dict[str, str]:
    inspector = inspect(connection)
    return {
        name: check["sqltext"]
        for table in inspector.get_table_names()
        for check in inspector.get_check_constraints(table)
        if (name := check.get("name"))
    }


_TRIGGERS = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'",
    "postgresql": (
        "SELECT t.tgname, pg_get_triggerdef(t.oid) || E'\\n' || pg_get_functiondef(t.tgfoid)"
        " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
    ),
}


def _triggers(connection: Connection) -> dict[str, str]:
    query = _TRIGGERS.get(connection.dialect.name)
    if query is None:
        return {}
    return {name: definition for name, definition in connection.exec_driver_sql(query)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bot.db.database",
        description="Developer commands for Karakana's migrations.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser(
        "revision", help="autogenerate the next revision from the models"
    )
    revision.add_argument("message", help='what the revision does, e.g. "add outbox"')
    revision.add_argument(
        "--url", help="diff against this database instead of a scratch SQLite file"
    )
    revision.add_argument(
        "--empty", action="store_true", help="write an empty revision (for data migrations)"
    )
    args = parser.parse_args(argv)
    path = make_revision(args.message, url=args.url, empty=args.empty)
    print(f"wrote {path}; review it before committing")


if __name__ == "__main__":
    main(sys.argv[1:])
