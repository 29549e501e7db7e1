"""The ``conversations.ports.Attachments`` the engine is given: the impact chart and statements'
PDFs drawn here (matplotlib, bot/statements/pdf.py) and kept in the media store, so a reply can
carry them like any photo (the outbox sends ``Reply.media``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from bot.channels.media import MediaStore
from bot.charts import impact_chart_png
from bot.statements.pdf import statement_pdf
from conversations.ports import PrintedStatement, StoredFile
from domain.impact import ImpactReport

VERIFY_PATH = "/verify"


class MediaAttachments:
    def __init__(self, store: MediaStore, *, public_base_url: str | None, currency: str) -> None:
        self._store = store
        self._base = (public_base_url or "http://localhost:8000").rstrip("/")
        self._currency = currency

    def verify_url(self, code: str) -> str:
        return f"{self._base}{VERIFY_PATH}/{code}"

    async def impact_chart(self, report: ImpactReport, labels: Mapping[str, str]) -> StoredFile:
        # Drawing takes a few hundred milliseconds of CPU: off the event loop.
        png = await asyncio.to_thread(
            impact_chart_png, report, labels=labels, currency=self._currency
        )
        return StoredFile("image/png", len(png), await self._store.save(png, "image/png"))

    async def statement_pdf(self, statement: PrintedStatement) -> StoredFile:
        pdf = statement_pdf(statement)
        ref = await self._store.save(pdf, "application/pdf")
        return StoredFile("application/pdf", len(pdf), ref)
