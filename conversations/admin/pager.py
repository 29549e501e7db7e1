"""The one pager every admin list uses (``/artisans``, ``/orders``, ``/jobs``, ``/deadletters``):
a page of ``MAX_LISTED`` lines, "page 2 of 4 (16–30 of 52)", the next page by number
(``/artisans 2``, ``/artisans horn carving 3``, ``/orders confirmed 2``) or by the "More" button,
and every page cut into readable messages (``replies.chunks``).

A page number is the argument's last word, alone or after ``page``/``ukurasa``: what comes before
it is the list's own filter. "more" (or "zaidi") goes on from the last page shown: typed alone
after a list, as ``/more``, or as the list's argument (``/artisans more``). The pages already
sent are the record of where the admin is: the newest message of theirs in the outbox with a
page button says which list and which page (a last page carries a "First page" button, so
"more" after it says it was the last one rather than showing it again).

The "More" button carries the command, the filter (its words joined with ``_``, which the lists
read as spaces) and the page: ``artisans:horn_carving:3``. A filter a button cannot carry
(characters beyond letters, digits, ``-`` and ``_``) gets no button, only the typed command to
send.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from conversations.admin.replies import ADMINS, MAX_LISTED, Replies, chunks
from conversations.flow import Command, Context
from conversations.i18n import N_
from conversations.messages import Choice, InvalidPayload, Reply, check_payload
from domain.model import OutboxMessage

MAX_PAGE = 9_999
_PAGE = re.compile(r"(?P<rest>.*?)\s*(?:\b(?:page|p|ukurasa)\s*)?#?(?P<page>\d{1,4})", re.I)
_BUTTON_WORD = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True, slots=True)
class Page:
    """Which page of a list: its number (from 1) and how many lines a page holds."""

    number: int = 1
    size: int = MAX_LISTED

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def split_page(argument: str) -> tuple[str, Page]:
    """``"horn carving 2"`` -> (``"horn carving"``, page 2); ``"horn_carving"`` (from a button)
    -> (``"horn carving"``, page 1). Page 0 is page 1."""
    text = " ".join(argument.replace("_", " ").split())
    match = _PAGE.fullmatch(text)
    if match is None:
        return text, Page()
    return match.group("rest").strip(), Page(max(1, min(MAX_PAGE, int(match.group("page")))))


def _button(command: str, filter_text: str, page: int) -> str | None:
    words = filter_text.split()
    if not all(_BUTTON_WORD.fullmatch(word) for word in words):
        return None
    payload = ":".join([command, *(["_".join(words)] if words else []), str(page)])
    try:
        return check_payload(payload)
    except InvalidPayload:
        return None


def paged(
    ctx: Context,
    *,
    command: str,
    filter_text: str,
    page: Page,
    total: int,
    header: str,
    lines: list[str],
    footer: list[str] | None = None,
) -> Replies:
    """One page of a list: ``header`` (with "page n of m" when there are several), ``lines``
    (this page's items, fetched ``page.size`` at a time; headings between them are not counted),
    ``footer``, and the way to the next page."""
    pages = max(1, math.ceil(total / page.size))
    typed = " ".join(f"/{command} {filter_text}".split())
    if page.number > pages:
        return [Reply(ctx.t("admin.page_past_end", page=page.number, pages=pages, command=typed))]
    if pages > 1:
        header += "\n" + ctx.t(
            "admin.page_of",
            page=page.number,
            pages=pages,
            first=page.offset + 1,
            last=min(total, page.offset + page.size),  # the lines may include group headings
            total=total,
        )
    body = list(lines)
    payload = None
    if page.number < pages:
        body.append(ctx.t("admin.page_next", command=f"{typed} {page.number + 1}"))
        payload = _button(command, filter_text, page.number + 1)
    replies = chunks(header, body + list(footer or ()))
    if len(replies) > 1:  # each later message says which list it goes on (and its buttons quote it)
        title = header.splitlines()[0][:80] + " " + ctx.t("plain.list_continued")
        replies = [replies[0], *(Reply(f"{title}\n{reply.text}") for reply in replies[1:])]
    if payload is not None:
        more = Choice(payload, ctx.t("admin.page_more", page=page.number + 1, pages=pages))
        last = replies[-1]
        replies[-1] = dataclasses.replace(last, choices=(*last.choices, more))
    elif pages > 1:  # the last page: back to the first, and "more" knows the list has ended
        first = _button(command, filter_text, 1)
        if first is not None:
            last = replies[-1]
            back = Choice(first, ctx.t("polish.page_first"))
            replies[-1] = dataclasses.replace(last, choices=(*last.choices, back))
    return replies


# --- "more": the next page of the last list shown ------------------------------------------------

MORE_WORDS = ("more", "zaidi")
_PAGED: set[str] = set()  # the commands whose pages carry page buttons (see ``continuing``)
_LOOK_BACK = 50  # how many of the admin's newest messages are searched for the last page
_OUTBOX: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_NEWEST = (
    sa.select(_OUTBOX.c.body)
    .where(
        _OUTBOX.c.channel == sa.bindparam("channel"), _OUTBOX.c.address == sa.bindparam("address")
    )
    .order_by(_OUTBOX.c.sequence.desc())
    .limit(_LOOK_BACK)
)

ListCommand = Callable[[Context, str], Awaitable[Replies]]


def _page_button(payload: str) -> tuple[str, str, int] | None:
    """A page button's command, filter (as typed) and page: ``artisans:horn_carving:3``."""
    command, *rest = payload.split(":")
    if command not in _PAGED or not rest or not rest[-1].isdigit():
        return None
    return command, " ".join(rest[:-1]).replace("_", " "), int(rest[-1])


async def _last_page(ctx: Context, command: str | None) -> tuple[str, str, int] | None:
    """The page button on the newest page of ``command`` (of any list: None) sent here."""
    connection = await ctx.session.connection()
    rows = await connection.execute(_NEWEST, {"channel": ctx.channel, "address": ctx.address})
    for (body,) in rows.all():
        for choice in json.loads(body).get("choices", ()):
            found = _page_button(str(choice.get("payload", "")))
            if found is not None and command in (None, found[0]):
                return found
    return None


async def _go_on(ctx: Context, command: str | None, run: ListCommand | None) -> Replies:
    found = await _last_page(ctx, command)
    if found is None:
        return [Reply(ctx.t("polish.more_nothing"))]
    name, filter_text, page = found
    if page == 1:  # only "First page" on it: that was the last page
        typed = " ".join(f"/{name} {filter_text}".split())
        back = _button(name, filter_text, 1)
        choices = () if back is None else (Choice(back, ctx.t("polish.page_first")),)
        return [Reply(ctx.t("polish.more_last_page", command=typed), choices=choices)]
    if run is None:
        run = _LISTS[name]
    return await run(ctx, f"{filter_text} {page}".strip())


_LISTS: dict[str, ListCommand] = {}


def continuing(command: str, run: ListCommand) -> ListCommand:
    """``run`` (a paged list's command) that also takes "more" (zaidi) as its argument: the page
    after the last one of this list shown to the admin."""
    _PAGED.add(command)
    _LISTS[command] = run

    async def run_or_go_on(ctx: Context, argument: str) -> Replies:
        if argument.strip().casefold() in MORE_WORDS:
            return await _go_on(ctx, command, run)
        return await run(ctx, argument)

    return run_or_go_on


async def _more(ctx: Context, _argument: str) -> Replies:
    return await _go_on(ctx, None, None)


COMMANDS: dict[str, Command] = {
    "more": Command(ADMINS, _more, N_("polish.help_more"), words=MORE_WORDS, bare=True),
}
