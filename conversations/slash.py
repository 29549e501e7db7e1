"""Running slash commands: the one way a ``/verify 12``, a ``verify:12`` button or ``KUBALI 12``
becomes a command's reply.

Each role declares its commands in its own ``commands.py``; conversations/registry.py merges the
tables into one ``Commands`` (refusing a name or a typed word declared twice), and the engine asks
it here. The sender's role is checked before anything runs; a refused or unknown command gets a
clear reply and the attempt is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from conversations.commands import SlashCommand
from conversations.flow import Command, Context, Start
from conversations.messages import Reply
from domain.errors import Forbidden
from domain.model import Role

log = logging.getLogger(__name__)

# "ACCEPT 12", "kubali #12", and the thing named between ("Nakubali ofa 160", "accept offer 44").
_TYPED = re.compile(
    r"([^\W\d_]{2,12})\s+(?:(?:ofa|offer)\s+)?#?(\d{1,9})\b(.*)", re.DOTALL | re.IGNORECASE
)


def _merge(tables: tuple[Mapping[str, Command], ...]) -> dict[str, Command]:
    merged: dict[str, Command] = {}
    for table in tables:
        for name, command in table.items():
            if name in merged:
                raise ValueError(f"/{name} is declared by two areas")
            merged[name] = command
    return merged


def _words(commands: Mapping[str, Command]) -> dict[str, str]:
    words: dict[str, str] = {}
    for name, command in commands.items():
        for word in command.words:
            if words.setdefault(word.casefold(), name) != name:
                raise ValueError(f"the word {word!r} is declared by two commands")
    return words


@dataclass(frozen=True)
class Commands:
    """Every slash command by name, in the order the roles declared them (the help lists them
    so), with the names that may come as buttons and the words that may be typed for them."""

    table: Mapping[str, Command] = field(default_factory=dict)
    buttons: frozenset[str] = field(init=False)
    words: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        names = frozenset(name for name, command in self.table.items() if command.button)
        object.__setattr__(self, "buttons", names)
        object.__setattr__(self, "words", _words(self.table))

    @classmethod
    def merge(cls, *tables: Mapping[str, Command]) -> Commands:
        """One table from each area's; a name declared twice is an error."""
        return cls(_merge(tables))

    def get(self, name: str) -> Command | None:
        return self.table.get(name)

    def typed(self, text: str, payload: str | None, role: Role | None) -> SlashCommand | None:
        """A command's word typed before an id without the slash (``ACCEPT 12``, ``kubali 12``).

        Only for a person whose role may run that command, so the same words in someone else's
        answer (a workshop named "Kataa 2") are still an answer.
        """
        match = _TYPED.fullmatch(text.strip()) if payload is None and role is not None else None
        if match is None:
            alone = self.words.get(text.strip().casefold()) if payload is None else None
            if alone is not None and self.table[alone].bare and role in self.table[alone].roles:
                return SlashCommand(alone, "")  # a word that runs its command alone ("more")
            return None
        name = self.words.get(match.group(1).casefold())
        if name is None or role not in self.table[name].roles:
            return None
        return SlashCommand(name, f"{match.group(2)} {' '.join(match.group(3).split())}".strip())

    def usage_for(self, role: Role) -> list[str]:
        """Msgids of the commands this role may run, for the help text."""
        return [command.usage for command in self.table.values() if role in command.roles]

    async def run(self, ctx: Context, slash: SlashCommand) -> list[Reply] | Start:
        command = self.table.get(slash.name)
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
