"""``karakana chat``: chat with Karakana in the terminal as anyone in the database."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.channels.console import run_console
from bot.cli.common import with_factory
from bot.main import Factory


def chat(
    address: Annotated[
        str,
        typer.Option(
            "--as",
            help="Who you are: a WhatsApp number (0712 345 678), a Telegram id, or a new address "
            "to register from.",
        ),
    ],
) -> None:
    """Chat with Karakana in the terminal as anyone in the database.

    Each line is one message; `photo: /path/to/picture.jpg` sends a photo; /quit leaves.
    """

    async def work(factory: Factory) -> None:
        await run_console(
            factory.store,
            channel_address=address,
            engine=factory.engine(),
            media_dir=factory.settings.media_dir,
            clock=factory.now,
        )

    with_factory(work)
