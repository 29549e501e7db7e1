"""``karakana run``: upgrade the database, seed the demo if it is empty, and serve the bot."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
from collections.abc import Coroutine
from typing import Annotated, Any

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from bot import main
from bot.cli.common import fail, load_settings, say, unreachable, with_factory
from bot.cli.db import upgrade
from bot.cli.seed import report_seed, seed_if_empty
from bot.cli.status import read_factory_status, show_status
from bot.db.database import DatabaseNotCurrent
from bot.demo import DemoSummary
from bot.logging import configure_logging
from bot.main import Factory
from bot.settings import Settings, webchat_refusal
from domain.errors import DomainError
from domain.reports import FactoryStatus


def run_event_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (Linux, macOS): the same asyncio API, with the loop,
    its sockets and timers in C, which is most of a chat message's cost outside our own code."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


def run(
    prepare_only: Annotated[
        bool,
        typer.Option(
            "--prepare-only",
            help="Upgrade the database, seed the demo if it is empty, show the status, and exit "
            "without serving (for deployments and CI).",
        ),
    ] = False,
) -> None:
    """Run Karakana: upgrade the database, seed the demo if it is empty, and serve the bot.

    One process serves WhatsApp's and Telegram's webhooks (or long-polls Telegram), the outbox
    dispatcher and /healthz. With no channel accounts configured and a loopback HOST it serves
    the local web chat (no login) at http://HOST:PORT/ instead. Stop it with Ctrl+C or SIGTERM:
    messages in flight are finished first.
    """
    settings = load_settings()
    # Taken first, and held until the server takes it over: a busy port is said before the
    # database is touched or any scheduled job could run.
    listening = None if prepare_only else bind_port(settings.host, settings.port)
    upgrade(settings)

    async def work(factory: Factory) -> tuple[DemoSummary | None, FactoryStatus]:
        summary, _ = await seed_if_empty(factory)
        return summary, await read_factory_status(factory)

    summary, factory_status = with_factory(work)
    if summary is not None:
        report_seed(summary, "")
    if prepare_only:
        show_status(factory_status)
        return
    assert listening is not None
    _serve(settings, listening)


def bind_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for the server (as uvicorn binds one), or one plain line
    saying why not (the port is taken, say) and exit code 1."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"Port {port} on {host} is already in use (another Karakana, or another "
                f"program): stop it, or pick another port, e.g. PORT={_other(port)} make run"
            )
        if isinstance(exc, socket.gaierror):
            fail(f"HOST={host} is not an address this machine can listen on ({exc.strerror}).")
        fail(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); pick another PORT.")
    return listening


def _other(port: int) -> int:
    return port + 1 if port < 65535 else 8001


def _serve(settings: Settings, listening: socket.socket) -> None:
    configure_logging(settings.log_level, secrets=settings.secrets)
    url = f"http://{settings.host}:{settings.port}/"
    refusal = webchat_refusal(settings)
    channels = [] if refusal else ["the local web chat at " + url]
    if settings.whatsapp_configured:
        channels.append(f"WhatsApp (webhook {settings.public_base_url}/whatsapp/webhook)")
    if settings.telegram_configured:
        mode = "webhook" if settings.telegram_uses_webhook else "long polling"
        channels.append(f"Telegram ({mode})")
    say(
        "Karakana is starting: "
        + ("; ".join(channels) or "no chat channel")
        + ". Stop with Ctrl+C."
    )
    if refusal:
        say(refusal, style="yellow")
    elif not (settings.whatsapp_configured or settings.telegram_configured):
        say(
            f"No WhatsApp or Telegram account is configured (see .env.example): open {url} "
            "to chat as anyone in the database.",
            style="yellow",
        )
    if not settings.mpesa_configured:
        say(
            "M-Pesa is not configured (see .env.example): payout batches are prepared and "
            "approved, but nothing is sent until the MPESA_ settings are set.",
            style="yellow",
        )

    async def go() -> None:
        async with main.open_factory(settings) as factory:
            await main.serve(factory, sockets=[listening])

    # uvicorn catches SIGTERM and SIGINT, shuts down gracefully, then re-raises the signal: let
    # SIGTERM end up where Ctrl+C does, so both finish with the goodbye and exit code 0.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_event_loop(go())
    except KeyboardInterrupt:
        pass
    except (DomainError, DatabaseNotCurrent, main.MpesaNotConfigured) as exc:
        fail(str(exc))
    except (OperationalError, DBAPIError) as exc:
        fail(unreachable(settings, exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    say("Karakana stopped.")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
