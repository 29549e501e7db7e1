"""The shape of what conversations/registry.py assembles from the roles: the ``Registry``.

Kept apart from the registry itself so the engine (and anything else below the roles) can take a
``Registry`` without importing the roles that fill it. An empty ``Registry()`` knows no flows,
commands, menus or notices; tests build small ones to drive the engine with a flow of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.flow import Flow
from conversations.flows.menu import Action, Menus
from conversations.i18n import NO_NAMES, Catalogue
from conversations.notices import (
    NoticeContext,
    NoticeTable,
    Notify,
    RevenueBand,
    combine,
    queue_notices,
)
from conversations.slash import Commands
from domain import events
from domain.explosion import FACTORY_ZONE
from domain.model import Role
from domain.services.names import load_names


def _by_name(flows: Sequence[Flow]) -> dict[str, Flow]:
    named: dict[str, Flow] = {}
    for flow in flows:
        if flow.name in named:
            raise ValueError(f"two flows are named {flow.name!r}")
        named[flow.name] = flow
    return named


@dataclass(frozen=True)
class Registry:
    """Every flow by name, every slash command, each role's menu, and the one event -> notice
    table with the events deliberately told to nobody (and why)."""

    flows: Mapping[str, Flow] = field(default_factory=dict)
    commands: Commands = field(default_factory=Commands)
    menus: Menus = field(default_factory=dict)
    notices: NoticeTable = field(default_factory=dict)
    silent: Mapping[type[events.Event], str] = field(default_factory=dict)
    # What photos sent unasked (no open question wants one) start, by role: an artisan's start
    # "submit finished work" with them. Roles not here are told politely the photo is not needed.
    photos: Mapping[Role, Action] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = set(self.notices) & set(self.silent)
        if both:
            names = sorted(event.__name__ for event in both)
            raise ValueError(f"events both told and listed as silent: {names}")

    @classmethod
    def build(
        cls,
        *,
        flows: Sequence[Flow],
        commands: Commands,
        menus: Menus,
        notices: Sequence[NoticeTable],
        silent: Mapping[type[events.Event], str],
        photos: Mapping[Role, Action] | None = None,
    ) -> Registry:
        """From the roles' parts: flows refused when two share a name, notices combined."""
        return cls(
            flows=_by_name(flows),
            commands=commands,
            menus=menus,
            notices=combine(*notices),
            silent=silent,
            photos=photos or {},
        )

    async def notify(
        self,
        session: AsyncSession,
        recorded: Sequence[events.Event],
        *,
        catalogue: Catalogue,
        now: datetime,
        band: RevenueBand | None = None,
        zone: ZoneInfo = FACTORY_ZONE,
    ) -> int:
        """Outbox messages for ``recorded`` (drained from ``session``), in the order the events
        happened, queued in the caller's transaction; returns how many."""
        if recorded and catalogue.names is NO_NAMES:  # the scheduler's and the payout runner's
            catalogue = catalogue.with_names(await load_names(session))
        ctx = NoticeContext(catalogue=catalogue, now=now, band=band, zone=zone)
        return await queue_notices(session, recorded, self.notices, ctx)

    def notifier(self, catalogue: Catalogue, band: RevenueBand | None = None) -> Notify:
        """``notify`` bound to the words and the revenue band, for the scheduler's jobs and the
        payout runner."""

        async def notify(
            session: AsyncSession, recorded: Sequence[events.Event], now: datetime
        ) -> Any:
            return await self.notify(session, recorded, catalogue=catalogue, now=now, band=band)

        return notify
