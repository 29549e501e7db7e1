"""The shape of a conversation flow: a declared table of steps, each a question and its answer.

A flow is a module that declares its steps as a ``StrEnum``, its legal moves as a ``Transitions``
table (the same checker the domain's life cycles use), and a ``Step`` per state: the ``prompt``
that asks the question and the ``answer`` that reads the reply. A Mermaid diagram of the table
sits beside the module, and a test keeps the two equal. The engine owns everything around a step:
locking, dedupe, global commands, screening input a step cannot use, persistence and the outbox.

A step's ``answer`` returns one outcome:
- ``Ask(problem)``: the reply cannot be used; say why, keep the state exactly as it was;
- ``Goto(step)``: move on (checked against the table) and ask the next question;
- ``Finish(replies)``: the flow is done; the conversation goes back to idle;
- ``Start(flow, data)``: this flow is done and another begins, seeded with ``data`` (the menu
  starting "submit work", an offer button starting "how many can you make?").

Many questions are "which one?": ``pick_one_step`` builds such a step from the options on offer,
and ``pick_one_flow`` a whole flow of that one question that starts the real flow for the one
picked (the receipt and visit pickers).

Slash commands (``/verify 12``) and the buttons standing for them (``verify:12``) work from any
state; each role declares its own ``COMMANDS`` table of ``Command`` (merged by
conversations/registry.py, run by slash.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.formatting import money
from conversations.i18n import Catalogue
from conversations.messages import Choice, MediaItem, Reply
from conversations.ports import (
    DEFAULT_ADMIN_POLICY,
    AdminPolicy,
    Attachments,
    DocumentReader,
    MatchRunner,
)
from domain.model import Channel, Language, Person, Role
from domain.numbers import or_none, whole_number
from domain.statemachine import Transitions
from domain.text import quoted

DONE = "done"  # every flow's final pseudo-step: ``[*]`` in the diagram
MAX_OPTION = 999  # a typed option number: no list is that long


class Expect(StrEnum):
    TEXT = "text"  # typed words; a number picks one of the offered choices when there are any
    CHOICE = "choice"  # one of the offered choices: a button, its number or its label
    MEDIA = "media"  # files (Answer.media) or typed words; the step itself judges what came
    # How many? A typed number is always the answer (a count), never a pick: the choices are
    # shortcuts ("All 15") taken by their button or their words ("all", "zote"), and are shown
    # without numbers (``Reply.numbered``; see conversations/quantity.py).
    QUANTITY = "quantity"


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    choice: Choice | None = None
    media: tuple[MediaItem, ...] = ()


@dataclass
class Context:
    """What a step may use: the open session, the time, who is talking, the flow's answers."""

    session: AsyncSession
    now: datetime
    channel: Channel
    address: str
    person: Person | None
    language: Language
    data: dict[str, Any]
    catalogue: Catalogue
    choices: tuple[Choice, ...] = ()  # offered with the question being answered
    media: tuple[MediaItem, ...] = ()  # sent with this message (a document for /import_orders)
    documents: DocumentReader | None = None  # ports the composition root may give the engine
    matcher: MatchRunner | None = None
    policy: AdminPolicy = DEFAULT_ADMIN_POLICY
    attachments: Attachments | None = None  # the impact chart, statements' PDFs
    caption: str = ""  # the words sent with photos no question asked for ("6 pieces")

    def t(self, msgid: str, /, **params: object) -> str:
        return self.catalogue.t(self.language, msgid, **params)

    def unclear(self, text: str) -> str:
        """What to say to words that answer nothing on offer: a number outside the list gets
        "a number from 1 to N"; anything else "Sorry, I didn't understand “…”" and what to send
        (the engine shows the list again with it)."""
        if self.choices and or_none(whole_number, text.strip(), most=MAX_OPTION) is not None:
            return self.t("engine.choose_one", count=len(self.choices))
        return self.t("engine.didnt_understand", text=quoted(text))

    def money(self, cents: int) -> str:
        """``cents`` in the configured currency: ``KES 1,250``."""
        return money(cents, self.catalogue.currency)


@dataclass(frozen=True, slots=True)
class Ask:
    problem: str


@dataclass(frozen=True, slots=True)
class Goto:
    step: str
    say: tuple[Reply, ...] = ()


@dataclass(frozen=True, slots=True)
class Finish:
    say: tuple[Reply, ...] = ()


@dataclass(frozen=True, slots=True)
class Start:
    flow: str
    data: Mapping[str, Any] = field(default_factory=dict)
    say: tuple[Reply, ...] = ()
    step: str | None = None  # where to begin, when not at the flow's first question


Outcome = Ask | Goto | Finish | Start


def as_command_replies(outcome: Ask | Finish) -> list[Reply]:
    """What a command says when it ran a flow's last step itself (``/reply 12 text`` instead of
    the "Answer" button's flow): the step's refusal, or what it said on finishing."""
    if isinstance(outcome, Ask):
        return [Reply(outcome.problem)]
    return list(outcome.say)


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command: who may run it, what it does, its one-line help (a msgid).

    ``button`` commands can also arrive as a button payload ``name:arg1:arg2`` (for instance on a
    business message such as a job offer), which is why their arguments are re-checked against
    the sender like any typed command.
    """

    roles: frozenset[Role]
    run: Callable[[Context, str], Awaitable[list[Reply] | Start]]
    usage: str
    button: bool = False
    # Flows this command completes: typed while one of them is open (``ACCEPT 12`` while the
    # offers list is asking which offer), it ends that flow instead of leaving a stale question.
    closes: frozenset[str] = frozenset()
    # Words that run the command when typed as the first word, before an id, without the slash
    # ("ACCEPT 12", "kubali 12"): for text-only channels, where buttons become typed codes.
    words: tuple[str, ...] = ()
    # Its words also run it typed alone, with nothing after them ("more", "zaidi").
    bare: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    expects: Expect
    prompt: Callable[[Context], Awaitable[Reply]]
    answer: Callable[[Context, Answer], Awaitable[Outcome]]


@dataclass(frozen=True)
class Flow:
    name: str
    first: str
    steps: Mapping[str, Step]
    table: Transitions[Any]
    diagram: Path | None = None
    times_out: bool = True  # half-finished work is dropped after the idle timeout

    def __post_init__(self) -> None:
        declared = {str(s) for s in self.table.table}
        missing = declared - set(self.steps) - {DONE}
        if missing or self.first not in self.steps:
            raise ValueError(f"flow {self.name}: steps {sorted(missing)} have no handler")
        if DONE not in declared:
            raise ValueError(f"flow {self.name}: its table must declare the final step {DONE!r}")

    def step(self, name: str) -> Step:
        return self.steps[name]

    def check(self, current: str, target: str) -> str:
        """``target`` if the table allows the move; a flow bug raises ``IllegalTransition``."""
        states = {str(s): s for s in self.table.table}
        self.table.check(states[current], states[target])
        return target


# --- "which one?" ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    """One thing to pick: its button payload is ``<prefix>:<key>``."""

    key: int | str
    label: str


def pick_one_step(
    *,
    asks: str,
    prefix: str,
    options: Callable[[Context], Awaitable[Sequence[Option]]],
    picked: Callable[[Context, str], Awaitable[Outcome]],
    none_left: str | None = None,
) -> Step:
    """A step asking ``asks`` (a msgid) with one button per option; ``picked`` gets the chosen
    option's key, as text. With ``none_left``, an empty list says that instead of asking."""

    async def prompt(ctx: Context) -> Reply:
        listed = await options(ctx)
        if not listed and none_left is not None:
            return Reply(ctx.t(none_left))
        return Reply(
            ctx.t(asks),
            choices=tuple(Choice(f"{prefix}:{option.key}", option.label) for option in listed),
        )

    async def answer(ctx: Context, answer: Answer) -> Outcome:
        assert answer.choice is not None  # Expect.CHOICE: one of the offered buttons
        return await picked(ctx, answer.choice.payload.removeprefix(f"{prefix}:"))

    return Step(Expect.CHOICE, prompt, answer)


def pick_one_flow(
    name: str,
    *,
    step: StrEnum,
    asks: str,
    none_left: str,
    prefix: str,
    options: Callable[[Context], Awaitable[Sequence[Option]]],
    target_flow: str,
    diagram: Path,
) -> Flow:
    """A flow of one "which one?" step, ``step``, that starts ``target_flow`` for the id picked,
    passed in its data under the step's name (``receipt_pick`` picks a ``delivery`` and starts
    ``receipt`` with ``{"delivery": 7}``). ``step``'s enum must also declare ``DONE``."""

    async def start_target(ctx: Context, key: str) -> Outcome:
        return Start(target_flow, {str(step): int(key)})

    done = type(step)(DONE)
    return Flow(
        name=name,
        first=step,
        table=Transitions(name, {step: frozenset({done}), done: frozenset()}),
        steps={
            step: pick_one_step(
                asks=asks, prefix=prefix, options=options, picked=start_target, none_left=none_left
            )
        },
        diagram=diagram,
    )
