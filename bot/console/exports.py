"""CSV exports (orders, jobs, QC results, receipts, payouts, ledger transfers), admins only.

Every page of rows goes through ``domain.csv_safety.csv_text``, the one CSV writer (a cell that
could run as a spreadsheet formula gets a leading quote), and the response is streamed page by
page (``export_rows.pages``), so an export of any size holds one page in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.console.app import Console
from bot.console.auth import Staff
from bot.console.export_rows import EXPORTS, Export, pages
from domain.csv_safety import csv_text


async def index(console: Console, request: Request, staff: Staff) -> Response:
    return console.render("exports.html", staff=staff, names=list(EXPORTS))


async def _csv(console: Console, export: Export) -> AsyncIterator[bytes]:
    yield csv_text([export.header]).encode()
    async for rows in pages(console.store, export):
        yield csv_text(rows).encode()


async def download(console: Console, request: Request, staff: Staff) -> Response:
    name = request.path_params["name"]
    export = EXPORTS.get(name)
    if export is None:
        return console.refuse(staff, 404, "console.not_found")
    stamp = console.clock().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        _csv(console, export),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="karakana-{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
