"""Reads more than one role needs; each role's own reads are in its ``queries.py``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import AgentArea, Component, Job


async def job_component(session: AsyncSession, job_id: int) -> Component | None:
    """The component a job makes, in one query (the job itself is not needed)."""
    return (await session.exec(_JOB_COMPONENT, params={"job_id": job_id})).first()


_JOB_COMPONENT = (
    select(Component)
    .join(Job, col(Job.component_id) == col(Component.id))
    .where(col(Job.id) == sa.bindparam("job_id"))
)


async def agent_areas(session: AsyncSession, agent_id: int) -> list[str]:
    """The areas a field agent covers, folded for comparing (none: they cover no area yet)."""
    rows = await session.exec(select(AgentArea.area).where(AgentArea.agent_id == agent_id))
    return [area.casefold() for area in rows]
