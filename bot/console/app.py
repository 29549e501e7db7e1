"""The console's plumbing: what it is built from, its templates, the login and logout routes, and
the guard every page passes (signed in, role allowed, CSRF on POST).

The pages themselves are ``pages.py`` (factory, orders, jobs, artisans), ``money.py`` (payouts,
impact) and ``exports.py`` (CSV); ``routes.py`` puts them together under ``/console``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.console.auth import (
    BadForm,
    Cookies,
    Staff,
    check_csrf,
    client_of,
    csrf_for,
    login_token,
    new_code,
    new_token,
    read_form,
    session_token,
)
from conversations.admin.replies import ARTISAN_STATUS, JOB_STATUS, ORDER_STATUS
from conversations.formatting import money, written_date
from conversations.i18n import NO_NAMES, Catalogue
from conversations.messages import Reply
from conversations.outbox import notify_person
from conversations.ports import AdminPolicy, MatchExplainer
from conversations.queries import agent_areas
from conversations.status_words import PAYOUT_BATCH_STATUS, PAYOUT_STATUS
from domain.model import (
    ArtisanStatus,
    JobStatus,
    Language,
    NameKind,
    OrderStatus,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
)
from domain.services.console_login import (
    Asked,
    Checked,
    LoginPolicy,
    check_code,
    end_session,
    request_code,
    session_person,
)
from domain.services.names import load_names
from domain.store import Store

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# Statuses shown in the reader's language, in the words chat's admin replies use.
STATUS_WORDS: dict[type, Mapping[Any, str]] = {
    OrderStatus: ORDER_STATUS,
    JobStatus: JOB_STATUS,
    ArtisanStatus: ARTISAN_STATUS,
    PayoutStatus: PAYOUT_STATUS,
    PayoutBatchStatus: PAYOUT_BATCH_STATUS,
}
ADMINS = frozenset({Role.ADMIN})
STAFF = frozenset({Role.ADMIN, Role.FIELD_AGENT})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _nothing() -> None:
    return None


@dataclass
class Console:
    """Everything the console's pages use, built by the composition root (bot/main.py)."""

    store: Store
    key: bytes
    clock: Callable[[], datetime]
    catalogue: Catalogue
    policy: AdminPolicy
    cookies: Cookies
    login: LoginPolicy = field(default_factory=LoginPolicy)
    wake_outbox: Callable[[], None] = _nothing
    wake_payouts: Callable[[], None] = _nothing
    explainer: MatchExplainer | None = None
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot whose rows stay readable after it closes (the pages render
        them afterwards): they are detached before the store's rollback would expire them."""
        async with self.store.read() as session:
            try:
                yield session
            finally:
                session.expunge_all()

    def say(self, language: Language | str, msgid: str, /, **params: object) -> str:
        return self.catalogue.t(language, msgid, **params)

    def render(
        self,
        template: str,
        *,
        staff: Staff | None,
        language: Language | str = Language.EN,
        http_status: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        lang = Language(staff.person.language if staff is not None else language)
        catalogue = self.catalogue.with_names(staff.names if staff is not None else NO_NAMES)

        def t(msgid: str, /, **params: object) -> str:
            return catalogue.t(lang, msgid, **params)

        def name(kind: str, code: object) -> str:
            """A skill, component, material, product or area in the reader's language."""
            return catalogue.name(lang, NameKind(kind), str(code)) if code else "–"

        def names_of(kind: str, codes: Collection[str]) -> str:
            return ", ".join(name(kind, code) for code in codes) or "–"

        def day(value: date | datetime) -> str:
            """A day written out: "Jumanne 22 Desemba 2026" (with its year: pages keep)."""
            return f"{written_date(lang, value)} {value.year}"

        def label(status: Any) -> str:
            """A status in words: an order's, a job's or an artisan's as chat says it."""
            msgid = STATUS_WORDS.get(type(status), {}).get(status)
            return t(msgid) if msgid is not None else str(getattr(status, "value", status))

        html = self.templates.get_template(template).render(
            t=t,
            label=label,
            name=name,
            names_of=names_of,
            day=day,
            lang=str(lang),
            staff=staff,
            is_admin=staff is not None and staff.person.role is Role.ADMIN,
            money=lambda cents: money(int(cents), self.catalogue.currency),
            **values,
        )
        return HTMLResponse(html, status_code=http_status, headers=SECURITY_HEADERS)

    def refuse(self, staff: Staff | None, status: int, msgid: str) -> HTMLResponse:
        return self.render(
            "problem.html", staff=staff, http_status=status, message_id=msgid, back="/console/"
        )


Page = Callable[[Console, Request, Staff], Awaitable[Response]]


def guarded(console: Console, page: Page, roles: Collection[Role] = ADMINS) -> Any:
    """A page only a signed-in staff member in ``roles`` may see; on POST the session's CSRF token
    must come with the form (read by the guard and handed on in ``request.state.form``)."""

    async def endpoint(request: Request) -> Response:
        key = console.key
        token = session_token(request, key)
        person = None
        areas: tuple[str, ...] = ()
        names = NO_NAMES
        if token is not None:
            async with console.read() as session:
                person = await session_person(session, key=key, token=token, now=console.clock())
                if person is not None and person.role is Role.FIELD_AGENT:
                    assert person.id is not None
                    areas = tuple(await agent_areas(session, person.id))
                names = NO_NAMES if person is None else await load_names(session)
        if person is None or token is None:
            if request.method == "POST":
                return console.refuse(None, 403, "console.session_over")
            return RedirectResponse(
                "/console/login?" + urlencode({"next": request.url.path}), status_code=303
            )
        staff = Staff(
            person=person, token=token, csrf=csrf_for(key, token), areas=areas, names=names
        )
        if person.role not in roles:
            log.warning(
                "console: person %s (%s) refused %s", person.id, person.role, request.url.path
            )
            return console.refuse(staff, 403, "console.not_for_your_role")
        if request.method == "POST":
            try:
                form = await read_form(request)
                check_csrf(form, staff.csrf)
            except BadForm as exc:
                log.warning("console: refused a POST from person %s: %s", person.id, exc)
                return console.refuse(staff, 403, "console.form_refused")
            request.state.form = form
        return await page(console, request, staff)

    return endpoint


# --- logging in and out -------------------------------------------------------------------------


def _language(request: Request) -> Language:
    return Language.SW if request.query_params.get("lang") == "sw" else Language.EN


def _safe_next(value: str | None) -> str:
    """Where to go after login: only a console path of ours (no open redirect)."""
    if value and value.startswith("/console/") and "//" not in value and "\\" not in value:
        return value
    return "/console/"


async def login_page(console: Console, request: Request) -> Response:
    pre = new_token()
    response = console.render(
        "login.html",
        staff=None,
        language=_language(request),
        step="number",
        csrf=csrf_for(console.key, pre),
        number="",
        next=_safe_next(request.query_params.get("next")),
        problem=None,
    )
    console.cookies.set_login(response, console.key, pre)
    return response


async def _login_form(console: Console, request: Request) -> dict[str, str] | None:
    pre = login_token(request, console.key)
    try:
        form = await read_form(request)
        check_csrf(form, None if pre is None else csrf_for(console.key, pre))
    except BadForm as exc:
        log.warning("console: refused a login POST: %s", exc)
        return None
    return form


async def ask_for_code(console: Console, request: Request) -> Response:
    """Send a code to the staff member with this number; the same answer for any number."""
    language = _language(request)
    form = await _login_form(console, request)
    if form is None:
        return console.refuse(None, 403, "console.form_refused")
    number = form.get("number", "")[:40]
    now = console.clock()
    code = new_code()
    async with console.store.transaction() as session:
        asked = await request_code(
            session,
            key=console.key,
            number_text=number,
            client=client_of(request),
            code=code,
            now=now,
            policy=console.login,
        )
        if asked.outcome is Asked.SENT and asked.person is not None:
            person: Person = asked.person
            minutes = int(console.login.code_ttl.total_seconds() // 60)
            text = console.say(
                person.language, "console.login_code_message", code=code, minutes=minutes
            )
            await notify_person(session, person, Reply(text), now=now)
            log.info("console: a login code went to person %s", person.id)
    if asked.outcome is Asked.SENT:
        console.wake_outbox()
    pre = login_token(request, console.key) or ""
    limited = asked.outcome is Asked.LIMITED
    return console.render(
        "login.html",
        staff=None,
        language=language,
        step="number" if limited else "code",
        csrf=csrf_for(console.key, pre),
        number=number,
        next=_safe_next(form.get("next")),
        problem="console.too_many_codes" if limited else None,
        http_status=429 if limited else 200,
    )


async def enter_code(console: Console, request: Request) -> Response:
    language = _language(request)
    form = await _login_form(console, request)
    if form is None:
        return console.refuse(None, 403, "console.form_refused")
    number = form.get("number", "")[:40]
    token = new_token()
    async with console.store.transaction() as session:
        checked, person = await check_code(
            session,
            key=console.key,
            number_text=number,
            code=form.get("code", "")[:20],
            client=client_of(request),
            token=token,
            now=console.clock(),
            policy=console.login,
        )
    if checked is Checked.OPENED and person is not None:
        log.info("console: person %s signed in", person.id)
        response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        console.cookies.set_session(response, console.key, token)
        return response
    pre = login_token(request, console.key) or ""
    limited = checked is Checked.LIMITED
    return console.render(
        "login.html",
        staff=None,
        language=language,
        step="code",
        csrf=csrf_for(console.key, pre),
        number=number,
        next=_safe_next(form.get("next")),
        problem="console.too_many_tries" if limited else "console.code_wrong",
        http_status=429 if limited else 403,
    )


async def logout(console: Console, request: Request, staff: Staff) -> Response:
    async with console.store.transaction() as session:
        await end_session(session, key=console.key, token=staff.token, now=console.clock())
    response = RedirectResponse("/console/login", status_code=303)
    console.cookies.clear_session(response)
    return response
