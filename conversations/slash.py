"""Every slash command, assembled from each area's ``COMMANDS`` table, and the one way to run them.

Each area (field agents, admins, artisans) declares its commands in its own module; this module
only merges the tables, refuses a name declared twice, and checks the sender's role before
running anything. A refused or unknown command gets a clear reply and the attempt is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from conversations import admin_commands, agent_commands, artisan_commands
from conversations.commands import SlashCommand
from conversations.flow import Command, Context, Start
from conversations.messages import Reply
from domain.errors import Forbidden
from domain.model import Role

log = logging.getLogger(__name__)


def _merge(*tables: Mapping[str, Command]) -> dict[str, Command]:
    merged: dict[str, Command] = {}
    for table in tables:
        for name, command in table.items():
            if name in merged:
                raise ValueError(f"/{name} is declared by two areas")
            merged[name] = command
    return merged


COMMANDS: dict[str, Command] = _merge(
    agent_commands.COMMANDS, admin_commands.COMMANDS, artisan_commands.COMMANDS
)

BUTTON_COMMANDS = frozenset(name for name, command in COMMANDS.items() if command.button)


def _words(commands: Mapping[str, Command]) -> dict[str, str]:
    words: dict[str, str] = {}
    for name, command in commands.items():
        for word in command.words:
            if words.setdefault(word.casefold(), name) != name:
                raise ValueError(f"the word {word!r} is declared by two commands")
    return words


WORD_COMMANDS = _words(COMMANDS)
_TYPED = re.compile(r"([^\W\d_]{2,12})\s+#?(\d{1,9})\b(.*)", re.DOTALL)


def typed_command(text: str, payload: str | None, role: Role | None) -> SlashCommand | None:
    """A command's word typed before an id without the slash (``ACCEPT 12``, ``kubali 12``).

    Only for a person whose role may run that command, so the same words in someone else's
    answer (a workshop named "Kataa 2") are still an answer.
    """
    match = _TYPED.fullmatch(text.strip()) if payload is None and role is not None else None
    if match is None:
        return None
    name = WORD_COMMANDS.get(match.group(1).casefold())
    if name is None or role not in COMMANDS[name].roles:
        return None
    return SlashCommand(name, f"{match.group(2)} {' '.join(match.group(3).split())}".strip())


def usage_for(role: Role) -> list[str]:
    """Msgids of the commands this role may run, for the help text."""
    return [command.usage for command in COMMANDS.values() if role in command.roles]


async def run_slash(ctx: Context, slash: SlashCommand) -> list[Reply] | Start:
    command = COMMANDS.get(slash.name)
    if command is None:
        return [Reply(ctx.t("command.unknown", command=f"/{slash.name}"))]
    if ctx.person is None or ctx.person.role not in command.roles:
        who = "an unregistered sender" if ctx.person is None else f"person {ctx.person.id}"
        log.warning("refused /%s from %s on %s", slash.name, who, ctx.channel)
        return [Reply(ctx.t("command.forbidden"))]
    try:
        return await command.run(ctx, slash.argument)
    except Forbidden as exc:
        log.warning("refused /%s from person %s: %s", slash.name, ctx.person.id, exc)
        return [Reply(ctx.t("command.forbidden"))]
