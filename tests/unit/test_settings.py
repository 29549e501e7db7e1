from decimal import Decimal

import pytest
from pydantic import ValidationError

from bot.settings import Settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("DATABASE_URL", "TIMEZONE", "CURRENCY", "REVENUE_SHARE_MIN", "REVENUE_SHARE_MAX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults_are_sqlite_nairobi_shillings_and_a_25_to_35_percent_band() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///./karakana.db"
    assert settings.timezone == "Africa/Nairobi"
    assert settings.currency == "KES"
    assert (settings.revenue_share_min, settings.revenue_share_max) == (
        Decimal("0.25"),
        Decimal("0.35"),
    )


def test_postgresql_is_configured_from_the_same_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://k:secret@db:5432/karakana")
    assert Settings().database_url.startswith("postgresql+asyncpg://")


def test_a_blocking_driver_is_refused_with_the_urls_that_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://k@db/karakana")
    with pytest.raises(ValidationError, match="postgresql\\+asyncpg"):
        Settings()


def test_an_inverted_revenue_share_band_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVENUE_SHARE_MIN", "0.4")
    monkeypatch.setenv("REVENUE_SHARE_MAX", "0.3")
    with pytest.raises(ValidationError, match="must not exceed"):
        Settings()


def test_an_unknown_time_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE", "Africa/Atlantis")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings()


def test_every_setting_is_documented_in_env_example() -> None:
    from pathlib import Path

    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].strip().isupper()
    }
    for name in Settings.model_fields:
        assert name.upper() in documented, f"{name.upper()} is missing from .env.example"
