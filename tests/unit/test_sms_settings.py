"""The settings of issue 18: SMS through Africa's Talking, its budgets, and WhatsApp templates
per language (the old single-level form still accepted)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import Settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AT_USERNAME", "AT_API_KEY", "WHATSAPP_TEMPLATE_SIDS", "SMS_DAILY_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SMS_DAILY_BUDGET_PER_PERSON", raising=False)


def test_sms_is_configured_by_a_username_and_an_api_key_whose_value_stays_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not Settings(_env_file=None).sms_configured
    monkeypatch.setenv("AT_USERNAME", "sandbox")
    monkeypatch.setenv("AT_API_KEY", "atsk_0123456789abcdef")
    settings = Settings(_env_file=None)
    assert settings.sms_configured
    assert "atsk_0123456789abcdef" in settings.secrets
    assert "atsk_0123456789abcdef" not in repr(settings)
    assert (settings.sms_daily_budget_per_person, settings.sms_daily_budget) == (40, None)


def test_whatsapp_templates_per_language_and_the_old_form_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "WHATSAPP_TEMPLATE_SIDS", '{"offer": {"sw": "HXsw", "en": "HXen"}, "default": "HXold"}'
    )
    templates = Settings(_env_file=None).whatsapp_template_sids
    assert templates == {"offer": {"sw": "HXsw", "en": "HXen"}, "default": "HXold"}


@pytest.mark.parametrize("value", ['{"offer": ["HX1"]}', '{"offer": {"sw": 3}}', "[1]"])
def test_a_template_setting_of_another_shape_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("WHATSAPP_TEMPLATE_SIDS", value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_a_negative_sms_budget_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_DAILY_BUDGET", "-1")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
