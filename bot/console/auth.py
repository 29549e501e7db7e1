"""Who is asking: signed session cookies, CSRF tokens, and the login pages' requests.

- The session cookie holds a random token and its HMAC-SHA256 signature under the console's key
  (``CONSOLE_SECRET_KEY``); the database keeps only the token's keyed digest
  (``domain.services.console_login``), checked on every request with its expiry, whether it was
  ended (logout, ``/logout_all``) and the person's role today.
- The cookie is HttpOnly, SameSite=Strict, Secure when ``PUBLIC_BASE_URL`` is https, scoped to
  ``/console`` and lives as long as the session.
- Every POST carries a CSRF token: per session, the keyed digest of the session token; before
  login (the number and code forms), a signed random value in a short-lived cookie that the form
  must repeat. Compared in constant time; a POST without it changes nothing (403).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from bot.request_body import BodyTooLarge, limited_body
from conversations.i18n import NO_NAMES
from domain.model import Person
from domain.names import Names

SESSION_COOKIE = "karakana_console"
LOGIN_COOKIE = "karakana_console_login"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf"
LOGIN_COOKIE_SECONDS = 30 * 60
MAX_FORM_BYTES = 16 * 1024


class BadForm(Exception):
    """A POST whose body is not a small urlencoded form, or whose CSRF token is wrong."""


def sign(key: bytes, value: str) -> str:
    mac = hmac.new(key, f"cookie:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac}"


def unsign(key: bytes, signed: str | None) -> str | None:
    """The value of a cookie we signed, or None if it is missing or was tampered with."""
    if not signed or "." not in signed or len(signed) > 200:
        return None
    value, _, mac = signed.rpartition(".")
    expected = sign(key, value).rpartition(".")[2]
    return value if hmac.compare_digest(mac, expected) else None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def csrf_for(key: bytes, session_token: str) -> str:
    """The CSRF token of a session: derived from it, so it needs no storage and dies with it."""
    return hmac.new(key, f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()[:40]


def client_of(request: Request) -> str:
    """The client address the per-address limits count (the peer; no forwarded header is
    trusted, as everywhere in Karakana: behind a proxy every client shares its address)."""
    return request.client.host if request.client is not None else "unknown"


@dataclass(frozen=True, slots=True)
class Cookies:
    """How our cookies are set: Secure when the public URL is https."""

    secure: bool
    session_seconds: int

    def set_session(self, response: Response, key: bytes, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            sign(key, token),
            max_age=self.session_seconds,
            path=COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path=COOKIE_PATH, secure=self.secure, httponly=True, samesite="strict"
        )

    def set_login(self, response: Response, key: bytes, value: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE,
            sign(key, value),
            max_age=LOGIN_COOKIE_SECONDS,
            path=COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )


def session_token(request: Request, key: bytes) -> str | None:
    return unsign(key, request.cookies.get(SESSION_COOKIE))


def login_token(request: Request, key: bytes) -> str | None:
    return unsign(key, request.cookies.get(LOGIN_COOKIE))


async def read_form(request: Request) -> dict[str, str]:
    """A POSTed urlencoded form (16 KB at most), one value per field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        raise BadForm("not a form")
    try:
        body = await limited_body(request, MAX_FORM_BYTES)
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (BodyTooLarge, UnicodeDecodeError, ValueError) as exc:
        raise BadForm(str(exc)) from exc
    return {name: values[0] for name, values in fields.items() if values}


def check_csrf(form: Mapping[str, str], expected: str | None) -> None:
    given = form.get(CSRF_FIELD, "")
    if not expected or not given or not hmac.compare_digest(given, expected):
        raise BadForm("missing or wrong CSRF token")


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in field agent or admin of a request."""

    person: Person
    token: str
    csrf: str
    areas: tuple[str, ...]  # a field agent's areas (empty for admins: they see everything)
    # What skills, components, materials, products and areas are called, read with the person.
    names: Names = NO_NAMES

    @property
    def id(self) -> int:
        assert self.person.id is not None
        return self.person.id
