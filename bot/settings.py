"""Every setting Karakana reads, in one validated class.

Only the composition root (bot/main.py) and the CLI build a ``Settings``; everything below ``bot``
receives plain values as arguments. Every field here is documented in ``.env.example``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./karakana.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    timezone: str = Field(default="Africa/Nairobi", description="IANA zone for due dates.")
    currency: str = Field(default="KES", min_length=3, max_length=3)
    revenue_share_min: Decimal = Field(default=Decimal("0.25"), ge=0, le=1)
    revenue_share_max: Decimal = Field(default=Decimal("0.35"), ge=0, le=1)
    log_level: str = Field(default="INFO")
    media_dir: Path = Field(default=Path("media"), description="Where received photos are kept.")
    conversation_idle_minutes: int = Field(
        default=720, gt=0, description="A half-finished conversation starts over after this."
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "DATABASE_URL must use an async driver: sqlite+aiosqlite:///./karakana.db "
                "or postgresql+asyncpg://user:password@host:5432/dbname"
            )
        return url

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    @field_validator("currency")
    @classmethod
    def _upper(cls, code: str) -> str:
        return code.upper()

    @field_validator("log_level")
    @classmethod
    def _level(cls, level: str) -> str:
        level = level.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return level

    @model_validator(mode="after")
    def _band(self) -> Settings:
        if self.revenue_share_min > self.revenue_share_max:
            raise ValueError("REVENUE_SHARE_MIN must not exceed REVENUE_SHARE_MAX")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
