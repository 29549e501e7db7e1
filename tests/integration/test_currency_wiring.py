"""The CURRENCY setting reaches what people read through the composition root (bot/main.py)."""

from __future__ import annotations

from pathlib import Path

from bot.main import Factory
from bot.settings import Settings
from domain.store import Store


def test_the_engine_shows_money_in_the_configured_currency(store: Store, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        currency="ugx",
        media_dir=tmp_path / "media",
        models_dir=tmp_path / "models",
    )
    engine = Factory(settings=settings, store=store).engine()
    assert engine.catalogue.currency == "UGX"
