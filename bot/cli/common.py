"""What every ``karakana`` command shares: talking to the person at the terminal, and running
one unit of work against the configured database.

A mistake a person can fix (a bad CSV, an invalid phone number, a database behind its
migrations) ends in one red message and exit code 1, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import DBAPIError, OperationalError

from bot import main
from bot.db.database import DatabaseNotCurrent, hide_password
from bot.main import Factory
from bot.settings import Settings
from domain.errors import DomainError

T = TypeVar("T")


def out() -> Console:
    # Built per call: the terminal (or a test's captured output) may change between commands.
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def say(message: str, style: str = "green") -> None:
    out().print(Text(message, style=style), soft_wrap=True)


def fail(message: str) -> NoReturn:
    # Domain messages start in lower case so they can be embedded; on their own, capitalise.
    err().print(Text(message[:1].upper() + message[1:], style="bold red"), soft_wrap=True)
    raise typer.Exit(1)


def kes(cents: int) -> str:
    shillings, rest = divmod(cents, 100)
    return f"KES {shillings:,}" + (f".{rest:02d}" if rest else "")


def load_settings() -> Settings:
    try:
        return main.load_settings()
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in error['loc']).upper() or 'SETTINGS'}: "
            f"{error['msg']}"
            for error in exc.errors()
        )
        fail(f"Karakana's configuration is not valid (see .env.example):\n{problems}")


def with_factory(work: Callable[[Factory], Awaitable[T]], *, check_schema: bool = True) -> T:
    """Run ``work`` on the configured database, turning a person's mistakes into a red message."""
    settings = load_settings()

    async def go() -> T:
        async with main.open_factory(settings, check_schema=check_schema) as factory:
            return await work(factory)

    try:
        return asyncio.run(go())
    except (DomainError, DatabaseNotCurrent) as exc:
        fail(str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        fail(unreachable(settings, exc))


def unreachable(settings: Settings, exc: Exception) -> str:
    reason = getattr(exc, "orig", None) or exc
    return f"cannot use the database at {hide_password(settings.database_url)}: {reason}"


def read_text(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(
            f"{file} is not UTF-8 text (byte {exc.start} cannot be read); save it as "
            "'CSV UTF-8' and try again"
        )
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
