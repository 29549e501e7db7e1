"""Africa's Talking USSD: ``POST /ussd/<token>``, one step of a session, answered in the response.

Africa's Talking posts each step as a form (``sessionId``, ``serviceCode``, ``phoneNumber``,
``text`` = every answer so far joined by ``*``, ``networkCode``) and shows the artisan what we
answer: ``text/plain`` beginning ``CON `` (a question follows) or ``END `` (the session closes).

Africa's Talking does not sign callbacks, so the callback URL carries a secret path token
(``AT_CALLBACK_TOKEN``, shared with the SMS callbacks): a request without it, or with another
(compared in constant time), is answered 404 as if nothing were there, and logged without the
token. The body is read through the one bounded reader (bot/request_body.py: 413 beyond 64 KB);
a form that is not Africa's Talking's (no session id, no phone number, a number that is not a
Kenyan mobile) is answered 400. None of these touches the database.

What a step does is ``conversations.ussd.UssdMenu``'s business (one step, one transaction; a
replayed step answers the same and changes nothing); this module only translates. The caller is
the person with the SMS identity of ``phoneNumber`` in E.164 (``domain.phone``), the identity
the SMS channel uses, so one artisan is one person on both.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.gateways import BadWebhook, parse_form
from bot.request_body import BodyTooLarge, limited_body
from conversations.ussd.menu import UssdMenu, UssdRefused
from domain.model.ussd import MAX_USSD_SESSION_ID
from domain.phone import InvalidPhoneNumber, mask, normalise_kenyan_mobile

log = logging.getLogger(__name__)

USSD_PATH = "/ussd"
_SESSION_ID = re.compile(rf"[A-Za-z0-9_.:\-]{{1,{MAX_USSD_SESSION_ID}}}")


@dataclass(frozen=True, slots=True)
class UssdRequest:
    session_id: str
    phone: str  # E.164
    text: str
    service_code: str


def parse_ussd(form: dict[str, str]) -> UssdRequest:
    """The step Africa's Talking posted, or ``BadWebhook`` (answered 400, nothing changed)."""
    session_id = form.get("sessionId", "")
    if not _SESSION_ID.fullmatch(session_id):
        raise BadWebhook("a USSD step needs a sessionId (letters, digits, - _ . :)")
    raw_phone = form.get("phoneNumber", "")
    try:
        phone = normalise_kenyan_mobile(raw_phone)
    except InvalidPhoneNumber as exc:
        raise BadWebhook("a USSD step needs the caller's Kenyan mobile number") from exc
    if "text" not in form:
        raise BadWebhook("a USSD step needs text (empty on the first step)")
    return UssdRequest(session_id, phone, form["text"], form.get("serviceCode", ""))


def ussd_routes(
    menu: UssdMenu, *, callback_token: str, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """``POST /ussd/<callback_token>``, and a 404 for ``POST /ussd`` without one."""
    expected = callback_token.encode()
    if len(expected) < 16:
        raise ValueError("the USSD callback token must be at least 16 characters")

    async def step(request: Request) -> Response:
        given = str(request.path_params.get("token", "")).encode()
        if not hmac.compare_digest(given, expected):
            return _refuse(request, "a wrong path token")
        try:
            ussd = parse_ussd(parse_form(await limited_body(request)))
            screen = await menu.step(
                session_id=ussd.session_id, phone=ussd.phone, text=ussd.text, now=clock()
            )
        except BodyTooLarge as exc:
            log.warning("USSD step refused (413): %s", exc)
            return PlainTextResponse(str(exc), status_code=413)
        except (BadWebhook, UssdRefused) as exc:
            log.warning("USSD step refused (400): %s", exc)
            return PlainTextResponse(str(exc), status_code=400)
        log.debug(
            "USSD step from %s in session %s: %s",
            mask(ussd.phone),
            ussd.session_id[-6:],
            "CON" if screen.more else "END",
        )
        return PlainTextResponse(("CON " if screen.more else "END ") + screen.text)

    async def tokenless(request: Request) -> Response:
        return _refuse(request, "no path token")

    return [
        Route(USSD_PATH + "/{token}", step, methods=["POST"]),
        Route(USSD_PATH, tokenless, methods=["POST"]),
    ]


def _refuse(request: Request, why: str) -> Response:
    # Never the token it came with: a near miss may be the real one mistyped somewhere.
    client = request.client.host if request.client else "?"
    log.warning("USSD step from %s refused: %s", client, why)
    return PlainTextResponse("Not Found", status_code=404)
