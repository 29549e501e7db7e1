"""Retailers' keys to the orders API: made, listed, revoked, and checked on every request.

A key reads ``kk_<key id>_<secret>``. The key id is public (it finds the row and names the key in
``karakana api-keys list``); the secret is 32 random bytes, shown once when the key is made and
kept only as its SHA-256, compared in constant time. A revoked key is refused like a wrong one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, NotFound
from domain.model import ApiKey, Customer

PREFIX = "kk"
_KEY = re.compile(rf"{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})")


def secret_digest(secret: str) -> str:
    """The SHA-256 of a key's secret part, as stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key; None for anything else."""
    match = _KEY.fullmatch(presented.strip())
    return None if match is None else (match.group(1), match.group(2))


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: ``token`` is the whole key, shown this once and never again."""

    key: ApiKey
    token: str


async def create_key(session: AsyncSession, *, customer_name: str, now: datetime) -> NewKey:
    customer = (
        await session.exec(select(Customer).where(Customer.name == customer_name.strip()))
    ).first()
    if customer is None or customer.id is None:
        raise NotFound("customer", repr(customer_name.strip()))
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)  # 32 random bytes, 43 characters
    key = ApiKey(
        key_id=key_id, secret_sha256=secret_digest(secret), customer_id=customer.id, created_at=now
    )
    session.add(key)
    await session.flush()
    return NewKey(key=key, token=f"{PREFIX}_{key_id}_{secret}")


async def revoke_key(session: AsyncSession, key_id: str, *, now: datetime) -> ApiKey:
    key = (
        await session.exec(select(ApiKey).where(ApiKey.key_id == key_id.strip()).with_for_update())
    ).first()
    if key is None:
        raise NotFound("API key", repr(key_id.strip()))
    if key.revoked_at is not None:
        raise DomainError(f"API key {key.key_id} was already revoked")
    key.revoked_at = now
    await session.flush()
    return key


async def list_keys(session: AsyncSession) -> list[tuple[ApiKey, Customer]]:
    rows = await session.exec(
        select(ApiKey, Customer)
        .join(Customer, col(Customer.id) == ApiKey.customer_id)
        .order_by(col(ApiKey.id))
    )
    return list(rows.all())


async def authenticate(session: AsyncSession, presented: str | None) -> Customer | None:
    """The customer a live key belongs to; None for a missing, malformed, wrong or revoked key."""
    parts = None if presented is None else split_key(presented)
    if parts is None:
        return None
    key_id, secret = parts
    key = (await session.exec(select(ApiKey).where(ApiKey.key_id == key_id))).first()
    # The digest is compared even when there is no such key, so timing says nothing about ids.
    stored = key.secret_sha256 if key is not None else secret_digest("")
    matches = hmac.compare_digest(secret_digest(secret), stored)
    if key is None or not matches or key.revoked_at is not None:
        return None
    return await session.get(Customer, key.customer_id)


async def set_callback(
    session: AsyncSession, *, customer_name: str, url: str, secret: str | None = None
) -> tuple[Customer, str]:
    """Where the customer wants its orders' news POSTed, and the secret that signs them (made
    here unless given); returns the customer and the secret, to be shown to it once.

    Only https, except to this machine (``http://127.0.0.1``, ``http://localhost``)."""
    customer = (
        await session.exec(select(Customer).where(Customer.name == customer_name.strip()))
    ).first()
    if customer is None:
        raise NotFound("customer", repr(customer_name.strip()))
    url = url.strip()
    parsed = urlsplit(url)
    local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")
    if not (parsed.scheme == "https" or local) or not parsed.hostname:
        raise DomainError(f"{url!r} is not an https URL")
    if len(url) > 500:
        raise DomainError("the callback URL must be at most 500 characters")
    secret = secret.strip() if secret else secrets.token_urlsafe(32)
    if len(secret) < 16 or len(secret) > 128:
        raise DomainError("the callback secret must be 16 to 128 characters")
    customer.callback_url = url
    customer.callback_secret = secret
    await session.flush()
    return customer, secret
