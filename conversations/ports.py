"""The small ports the admin commands need from the world, and the policy they are given.

The conversations layer reads no files, runs no matching and reads no settings: the composition
root (bot/main.py) builds concrete objects and hands them to the ``Engine``, which puts them on
every step's ``Context``. Each port is optional; a command whose port is missing says politely
that the feature is not configured rather than failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.impact import ImpactReport


class DocumentUnreadable(Exception):
    """A document sent to us cannot be read (gone from the media store, not text, too big)."""


class DocumentReader(Protocol):
    """Reads a document a person sent, by its ``MediaItem.ref`` in the media store."""

    async def read_text(self, ref: str) -> str:
        """The document as text; raise ``DocumentUnreadable`` (or ``OSError``) if it cannot be."""
        ...


class MatchSummary(Protocol):
    """What a matching round reports back; only these two figures are shown to the admin."""

    @property
    def offers_made(self) -> int: ...

    @property
    def pieces_offered(self) -> int: ...


class Unfilled(Protocol):
    """A job a round could not offer in full, and why (``matching.round.UnfilledJob``)."""

    @property
    def job_id(self) -> int: ...

    @property
    def code(self) -> str: ...  # matching.round.Shortfall

    @property
    def skill(self) -> str: ...

    @property
    def left(self) -> int: ...


@runtime_checkable
class MatchShortfalls(Protocol):
    """A round's summary that also says which jobs were not offered in full, and why; /match
    says so when it offers nothing."""

    @property
    def unfilled(self) -> Sequence[Unfilled]: ...


class MatchRunner(Protocol):
    """Runs one matching round now, inside the caller's transaction (offers it makes are sent
    with the admin's reply)."""

    async def __call__(self, session: AsyncSession, now: datetime) -> MatchSummary: ...


@runtime_checkable
class MatchExplainer(Protocol):
    """A matcher that can also say why an artisan did or did not get an offer for a job."""

    async def explain(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> str: ...


@runtime_checkable
class MatchExplanations(Protocol):
    """A matcher that hands over the figures of its explanation, for ``/why`` to say them in
    the admin's language (``conversations.why.Explanation`` is what it returns)."""

    async def explanation(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class AdminPolicy:
    """Business settings admins' reports compare against (from Settings, via bot/main.py)."""

    share_low: Decimal = Decimal("0.25")  # artisans' share of revenue: the band aimed for
    share_high: Decimal = Decimal("0.35")
    payout_minimum_cents: int = 10_000  # KES 100: smaller balances wait for the next batch
    mpesa_configured: bool = True  # False: approved payouts wait until M-Pesa is set up
    cancelled_work_grace_days: int = 7  # made pieces of a cancelled job accepted this long
    payout_max_per_artisan_cents: int | None = None  # None: no limit (PAYOUT_MAX_PER_ARTISAN)
    payout_max_per_batch_cents: int | None = None  # None: no limit (PAYOUT_MAX_PER_BATCH)
    payout_maker_checker: bool = True  # PAYOUT_MAKER_CHECKER: a batch's maker is not its checker

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.share_low <= self.share_high <= Decimal(1):
            raise ValueError(
                f"the revenue share band runs within 0..1 from low to high, not "
                f"{self.share_low}..{self.share_high}"
            )
        if self.cancelled_work_grace_days < 0:
            raise ValueError(
                f"the grace for cancelled work is 0 days or more, not "
                f"{self.cancelled_work_grace_days}"
            )
        if self.payout_minimum_cents <= 0:
            raise ValueError(
                f"the payout minimum must be positive cents, not {self.payout_minimum_cents}"
            )


DEFAULT_ADMIN_POLICY = AdminPolicy()


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file the composition root made and kept in the media store, to send as media."""

    content_type: str
    size: int
    ref: str


@dataclass(frozen=True, slots=True)
class PrintedStatement:
    """An artisan's monthly statement as printed on its PDF: every line already in their
    language, the verification code and the address a lender checks it at."""

    title: str
    lines: tuple[str, ...]  # a line starting "# " is a heading
    code_label: str  # "Verification code: 7KQ2-M9XD-04TB"
    verify_url: str
    footer: str


class Attachments(Protocol):
    """Files a conversation sends (the impact chart, a statement's PDF), drawn and stored by the
    composition root (matplotlib and the media store live in ``bot``)."""

    def verify_url(self, code: str) -> str:
        """Where a lender checks a statement: ``PUBLIC_BASE_URL/verify/<code>``."""
        ...

    async def impact_chart(self, report: ImpactReport, labels: Mapping[str, str]) -> StoredFile:
        """The impact report's chart as a PNG, with its words in ``labels``."""
        ...

    async def statement_pdf(self, statement: PrintedStatement) -> StoredFile:
        """The statement as a PDF."""
        ...
