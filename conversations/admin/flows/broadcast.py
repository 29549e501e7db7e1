"""An admin's message to many artisans goes only after a preview and a yes.

``/broadcast <skill|area|all> en: <text> sw: <maandishi>``: one text per language the chosen
artisans read (``people.py`` refuses an unmarked text or a missing language, saying how to write
it) and then starts this flow: the question shows how many artisans get it, and each language's
message exactly as they will read it. "Yes" (the button, its number, or yes / ndiyo typed) queues
one message per artisan, in their language; "no" (hapana) sends nothing. The state table is
``TABLE``; ``broadcast.mmd`` draws it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from enum import StrEnum
from pathlib import Path

from conversations.admin import queries as reports
from conversations.admin.flows.confirming import Said, said, yes_no_choices
from conversations.admin.replies import ADMINS
from conversations.flow import DONE, Answer, Ask, Context, Expect, Finish, Flow, Outcome, Step
from conversations.formatting import me
from conversations.i18n import N_
from conversations.messages import Reply
from conversations.outbox import notify_person
from domain.model import ArtisanStatus, Language, Person
from domain.statemachine import Transitions

log = logging.getLogger(__name__)

NAME = "broadcast"
PREFIX = "bcast"
_MARK = re.compile(r"(?:^|(?<=\s))(en|sw)\s*:\s*", re.IGNORECASE)


class Broadcast(StrEnum):
    CONFIRM = "confirm"
    DONE = DONE


TABLE: dict[Broadcast, frozenset[Broadcast]] = {
    Broadcast.CONFIRM: frozenset({Broadcast.DONE}),
    Broadcast.DONE: frozenset(),
}


def per_language(message: str) -> dict[Language, str] | None:
    """``en: Hello sw: Habari`` as one text per language; None when the message is not written
    so (no language code first, or a language given twice)."""
    parts = _MARK.split(message.strip())
    if len(parts) < 3 or parts[0].strip():
        return None
    texts: dict[Language, str] = {}
    for code, text in zip(parts[1::2], parts[2::2], strict=True):
        language = Language(code.casefold())
        if language in texts:
            return None
        texts[language] = text.strip()
    return texts


async def recipients(ctx: Context, skill: str | None, area: str | None) -> list[Person]:
    """The verified (active or paused) artisans the broadcast goes to."""
    rows, _ = await reports.artisans(
        ctx.session,
        skill=skill,
        area=area,
        statuses=(ArtisanStatus.ACTIVE, ArtisanStatus.PAUSED),
    )
    return [row.person for row in rows]


def languages_named(ctx: Context, counts: Counter[Language]) -> str:
    """``Kiswahili (8), English (4)``: each language the artisans read, with how many read it."""
    return ", ".join(
        f"{ctx.catalogue.t(language, 'language.name')} ({count})"
        for language, count in counts.most_common()
    )


def _texts(ctx: Context) -> dict[Language, str]:
    return {Language(code): text for code, text in ctx.data["texts"].items()}


async def _ask(ctx: Context) -> Reply:
    people = await recipients(ctx, ctx.data.get("skill"), ctx.data.get("area"))
    counts = Counter(person.language for person in people)
    texts = _texts(ctx)
    lines = [ctx.t("admin.broadcast_preview", count=len(people), audience=ctx.data["audience"])]
    for language, count in counts.most_common():
        text = texts.get(language)
        shown = (
            ctx.catalogue.t(language, "admin.broadcast_message", text=text)
            if text is not None
            else ctx.t("admin.broadcast_preview_none")
        )
        lines.append(
            ctx.t(
                "admin.broadcast_preview_language",
                language=ctx.catalogue.t(language, "language.name"),
                count=count,
                text=shown,
            )
        )
    lines.append(ctx.t("admin.confirm_yes_no"))
    return Reply(
        "\n\n".join(lines), choices=yes_no_choices(ctx, PREFIX, N_("admin.broadcast_confirm_yes"))
    )


async def _answer(ctx: Context, answer: Answer) -> Outcome:
    match said(answer, PREFIX):
        case Said.NO:
            return Finish(say=(Reply(ctx.t("admin.broadcast_kept")),))
        case Said.UNCLEAR:
            return Ask(ctx.t("admin.confirm_unclear"))
    if ctx.person is None or ctx.person.role not in ADMINS:  # the role may have changed since
        return Finish(say=(Reply(ctx.t("command.forbidden")),))
    texts = _texts(ctx)
    people = await recipients(ctx, ctx.data.get("skill"), ctx.data.get("area"))
    sent = 0
    for person in people:
        text = texts.get(person.language)
        if text is None:
            continue  # registered since the preview, in a language with no text: not guessed
        words = ctx.catalogue.t(person.language, "admin.broadcast_message", text=text)
        if await notify_person(ctx.session, person, Reply(words), now=ctx.now) is not None:
            sent += 1
    audience = ctx.data["audience"]
    log.info("person %s broadcast to %s: %s of %s sent", me(ctx), audience, sent, len(people))
    return Finish(
        say=(
            Reply(ctx.t("admin.broadcast_done", sent=sent, skipped=len(people) - sent, count=sent)),
        )
    )


FLOW = Flow(
    name=NAME,
    first=Broadcast.CONFIRM,
    table=Transitions(NAME, TABLE),
    steps={Broadcast.CONFIRM: Step(Expect.TEXT, _ask, _answer)},
    diagram=Path(__file__).with_name("broadcast.mmd"),
)
