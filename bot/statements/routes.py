"""``GET /verify/<code>``: a lender checks an artisan's statement, without logging in.

Served beside the real channels, so it gives away as little as it can: only the statement's
totals, its period, the artisan's name and when it was issued; nothing for a code that is
malformed, unknown or revoked but the same bare 404, after the same one lookup by the code's
hash (``domain.statements.verified_statement``), so neither the answer nor its timing tells
them apart. Requests are limited per client address (``VERIFY_RATE_PER_MINUTE``), so the 60-bit
codes cannot be guessed by trying; the page is never cached or indexed.
"""

from __future__ import annotations

import html
import logging
import time
from collections import deque
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot.statements.attachments import VERIFY_PATH
from conversations.formatting import money
from domain.impact import month_label
from domain.statements import verified_statement
from domain.store import Store

log = logging.getLogger(__name__)

VERIFY_RATE_PER_MINUTE = 20
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
_NOT_FOUND = (
    "<!doctype html><meta charset=utf-8><title>Not found</title>"
    "<p>No valid statement has this code. / Hakuna taarifa halali yenye namba hii.</p>"
)


class PerClientLimit:
    """At most ``per_minute`` requests in any 60 seconds from one client address."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def allow(self, client: str) -> bool:
        now = self._clock()
        if len(self._seen) > 10_000:  # forget the quiet ones rather than grow without end
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - 60}
        times = self._seen.setdefault(client, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self._per_minute:
            return False
        times.append(now)
        return True


def _page(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in rows
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        "<title>Karakana statement verified</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}"
        "th{text-align:left;padding:.3em 1em .3em 0}td{text-align:right}</style>"
        "<h1>Statement verified / Taarifa imethibitishwa</h1>"
        "<p>Karakana issued this statement of income; these are its totals. "
        "Karakana ilitoa taarifa hii ya mapato; hizi ndizo jumla zake.</p>"
        f"<table>{cells}</table></html>"
    )


def verify_routes(
    store: Store,
    *,
    currency: str,
    limit: PerClientLimit | None = None,
) -> list[BaseRoute]:
    limiter = limit or PerClientLimit(VERIFY_RATE_PER_MINUTE)

    async def verify(request: Request) -> Response:
        client = request.client.host if request.client is not None else "unknown"
        if not limiter.allow(client):
            log.warning("statement verification rate limit reached by a client")
            return Response(
                "too many requests", status_code=429, headers={**_HEADERS, "Retry-After": "60"}
            )
        code = str(request.path_params["code"])[:40]
        async with store.transaction() as session:
            found = await verified_statement(session, code)
        if found is None:
            return HTMLResponse(_NOT_FOUND, status_code=404, headers=_HEADERS)
        rows = [
            ("Name / Jina", found.artisan_name),
            ("Period / Kipindi", month_label(found.month)),
            ("Pieces / Vipande", str(found.pieces)),
            ("Earned / Mapato", money(found.earned_cents, currency)),
            ("Deductions / Makato", money(found.deductions_cents, currency)),
            ("Paid to M-Pesa / Kulipwa M-Pesa", money(found.paid_cents, currency)),
            ("Issued / Ilitolewa", found.issued_at.date().isoformat()),
        ]
        return HTMLResponse(_page(rows), headers=_HEADERS)

    return [Route(VERIFY_PATH + "/{code}", verify, methods=["GET"])]
