"""When the local web chat, which has no login, may be served: ``bot.settings.webchat_refusal``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, is_loopback_host, webchat_refusal

_CHANNEL_ENV = (
    "HOST",
    "PUBLIC_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_WHATSAPP_FROM",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "MPESA_CONSUMER_KEY",
    "MPESA_CONSUMER_SECRET",
    "MPESA_SHORTCODE",
    "MPESA_INITIATOR_NAME",
    "MPESA_INITIATOR_PASSWORD",
    "MPESA_CERTIFICATE_PATH",
)
WHATSAPP = {
    "public_base_url": "https://bot.example.org",
    "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
    "twilio_auth_token": "a-real-looking-auth-token-0123",
    "twilio_whatsapp_from": "whatsapp:+14155238886",
}
TELEGRAM = {"telegram_bot_token": "123456:a-real-looking-bot-token"}  # long polling


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


@pytest.fixture
def mpesa(tmp_path: Path) -> dict[str, Any]:
    certificate = tmp_path / "mpesa.cer"
    certificate.write_text("-----BEGIN CERTIFICATE-----\n")
    return {
        "public_base_url": "https://bot.example.org",
        "mpesa_consumer_key": "a-real-looking-consumer-key-0123",
        "mpesa_consumer_secret": "a-real-looking-consumer-secret-0123",
        "mpesa_shortcode": "600999",
        "mpesa_initiator_name": "karakana_api",
        "mpesa_initiator_password": "Safaricom999!*!",
        "mpesa_certificate_path": certificate,
    }


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "localhost."]
)
def test_the_web_chat_is_served_with_no_channel_on_a_loopback_host(host: str) -> None:
    assert webchat_refusal(settings(host=host)) is None


def test_the_default_settings_are_the_local_demo_so_the_web_chat_is_served() -> None:
    assert webchat_refusal(settings()) is None


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "bot.example.org", "localhost.evil", ""]
)
def test_a_host_other_than_loopback_turns_the_web_chat_off_and_names_the_host(host: str) -> None:
    refusal = webchat_refusal(settings(host=host))
    assert refusal is not None
    assert refusal.startswith("The local web chat is off: ")
    assert f"HOST {host!r} is not a loopback address" in refusal


def test_whatsapp_turns_the_web_chat_off_even_on_loopback() -> None:
    assert webchat_refusal(settings(host="127.0.0.1", **WHATSAPP)) == (
        "The local web chat is off: WhatsApp is configured; it is served only when no channel "
        "(WhatsApp, Telegram, M-Pesa) is configured and HOST is a loopback address such as "
        "127.0.0.1."
    )


def test_telegram_by_long_polling_turns_the_web_chat_off_even_on_loopback() -> None:
    refusal = webchat_refusal(settings(host="127.0.0.1", **TELEGRAM))
    assert refusal is not None
    assert "off: Telegram is configured;" in refusal


def test_mpesa_alone_turns_the_web_chat_off(mpesa: dict[str, Any]) -> None:
    refusal = webchat_refusal(settings(**mpesa))
    assert refusal is not None
    assert "off: M-Pesa is configured;" in refusal


def test_every_reason_is_named_in_one_plain_line(mpesa: dict[str, Any]) -> None:
    webhook = {"telegram_webhook_secret": "a-long-random-webhook-secret-0123"}
    refusal = webchat_refusal(settings(host="0.0.0.0", **(WHATSAPP | TELEGRAM | webhook | mpesa)))
    assert refusal is not None
    assert "\n" not in refusal
    assert refusal.startswith(
        "The local web chat is off: WhatsApp, Telegram and M-Pesa are configured and "
        "HOST '0.0.0.0' is not a loopback address; "
    )


def test_an_ipv4_address_mapped_into_ipv6_is_loopback_only_if_the_ipv4_one_is() -> None:
    assert is_loopback_host("::ffff:127.0.0.1")
    assert not is_loopback_host("::ffff:192.168.1.20")
