"""The small ports the admin commands need from the world, and the policy they are given.

The conversations layer reads no files, runs no matching and reads no settings: the composition
root (bot/main.py) builds concrete objects and hands them to the ``Engine``, which puts them on
every step's ``Context``. Each port is optional; a command whose port is missing says politely
that the feature is not configured rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlmodel.ext.asyncio.session import AsyncSession


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
