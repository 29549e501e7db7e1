from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
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


# --- channels (bot/settings.py, the channels issue) -----------------------------------------------

_TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "a1" * 16,
    "TWILIO_AUTH_TOKEN": "a-real-looking-auth-token-0123456789",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
}


def test_with_no_channel_settings_only_the_local_web_chat_runs_on_127_0_0_1_8000() -> None:
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert not settings.whatsapp_configured
    assert not settings.telegram_configured
    assert settings.twilio_api_base_url == "https://api.twilio.com"
    assert settings.telegram_api_base_url == "https://api.telegram.org"
    assert settings.whatsapp_send_rate == 10


@pytest.mark.parametrize("name", ["TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN"])
@pytest.mark.parametrize("placeholder", ["CHANGE_ME", "changeme", "xxx"])
def test_a_secret_left_as_the_example_placeholder_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, placeholder: str
) -> None:
    for key, value in _TWILIO.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.org")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "a-long-random-webhook-secret")
    monkeypatch.setenv(name, placeholder)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_secrets_never_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _TWILIO.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.org/")
    settings = Settings()
    assert settings.whatsapp_configured
    assert settings.public_base_url == "https://bot.example.org"
    assert _TWILIO["TWILIO_AUTH_TOKEN"] not in repr(settings)


def test_half_a_twilio_configuration_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", _TWILIO["TWILIO_ACCOUNT_SID"])
    with pytest.raises(ValidationError, match="TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM"):
        Settings()


def test_a_telegram_webhook_needs_its_secret_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:a-real-looking-bot-token")
    assert not Settings().telegram_uses_webhook  # no public URL: long polling
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.org")
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings()


def test_whatsapp_templates_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_TEMPLATE_SIDS", '{"default": "HX1", "offer": "HX2"}')
    assert Settings().whatsapp_template_sids == {"default": "HX1", "offer": "HX2"}
    monkeypatch.setenv("WHATSAPP_TEMPLATE_SIDS", "HX1")
    with pytest.raises(ValidationError, match="must be JSON"):
        Settings()


# --- M-Pesa and the scheduler (bot/settings.py, the payouts issue) --------------------------------


@pytest.fixture
def mpesa_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    certificate = tmp_path / "mpesa-sandbox.cer"
    certificate.write_text("-----BEGIN CERTIFICATE-----\n")
    values = {
        "MPESA_CONSUMER_KEY": "a-real-looking-consumer-key-0123",
        "MPESA_CONSUMER_SECRET": "a-real-looking-consumer-secret-0123",
        "MPESA_SHORTCODE": "600999",
        "MPESA_INITIATOR_NAME": "karakana_api",
        "MPESA_INITIATOR_PASSWORD": "Safaricom999!*!",
        "MPESA_CERTIFICATE_PATH": str(certificate),
    }
    for name in (*values, "PUBLIC_BASE_URL", "MPESA_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return values


def test_without_mpesa_settings_payouts_are_not_sent_and_the_sandbox_is_the_default() -> None:
    settings = Settings()
    assert not settings.mpesa_configured
    assert settings.mpesa_api_base_url == "https://sandbox.safaricom.co.ke"


def test_a_whole_mpesa_configuration_is_accepted_and_its_secrets_stay_hidden(
    monkeypatch: pytest.MonkeyPatch, mpesa_env: dict[str, str]
) -> None:
    for key, value in mpesa_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.org")
    monkeypatch.setenv("MPESA_API_BASE_URL", "https://api.safaricom.co.ke/")
    settings = Settings()
    assert settings.mpesa_configured
    assert settings.mpesa_api_base_url == "https://api.safaricom.co.ke"
    for secret in ("MPESA_CONSUMER_SECRET", "MPESA_INITIATOR_PASSWORD"):
        assert mpesa_env[secret] not in repr(settings)
        assert mpesa_env[secret] in settings.secrets  # so the log filter removes them


def test_half_an_mpesa_configuration_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, mpesa_env: dict[str, str]
) -> None:
    monkeypatch.setenv("MPESA_CONSUMER_KEY", mpesa_env["MPESA_CONSUMER_KEY"])
    monkeypatch.setenv("MPESA_SHORTCODE", "600999")
    with pytest.raises(
        ValidationError,
        match="missing MPESA_CONSUMER_SECRET, MPESA_INITIATOR_NAME, MPESA_INITIATOR_PASSWORD, "
        "MPESA_CERTIFICATE_PATH",
    ):
        Settings()


def test_mpesa_needs_a_public_url_for_darajas_callbacks(
    monkeypatch: pytest.MonkeyPatch, mpesa_env: dict[str, str]
) -> None:
    for key, value in mpesa_env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match="results to PUBLIC_BASE_URL/mpesa"):
        Settings()


@pytest.mark.parametrize(
    "name", ["MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_INITIATOR_PASSWORD"]
)
def test_an_mpesa_secret_left_as_the_placeholder_is_refused(
    monkeypatch: pytest.MonkeyPatch, mpesa_env: dict[str, str], name: str
) -> None:
    for key, value in mpesa_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.org")
    monkeypatch.setenv(name, "CHANGE_ME")
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_a_missing_certificate_file_is_refused_with_where_to_get_it(
    monkeypatch: pytest.MonkeyPatch, mpesa_env: dict[str, str]
) -> None:
    for key, value in mpesa_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.org")
    monkeypatch.setenv("MPESA_CERTIFICATE_PATH", "/nowhere/mpesa.cer")
    with pytest.raises(ValidationError, match="Daraja portal"):
        Settings()


def test_the_schedule_defaults_to_15_minute_rounds_and_friday_10_00_payouts_of_kes_500() -> None:
    settings = Settings()
    assert settings.match_interval.total_seconds() == 15 * 60
    assert (settings.payout_day, settings.payout_time.isoformat()) == (4, "10:00:00")
    assert settings.payout_minimum_cents == 50_000
    assert settings.payout_auto_approve_limit_cents == 0


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("15m", 900), ("24h", 86_400), ("1h30m", 5_400), ("90", 90), ("PT5M", 300), ("2d", 172_800)],
)
def test_durations_read_as_people_write_them(
    monkeypatch: pytest.MonkeyPatch, written: str, seconds: int
) -> None:
    monkeypatch.setenv("OFFER_TTL", written)
    assert Settings().offer_ttl.total_seconds() == seconds


def test_the_payout_day_is_a_weekday_name_or_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYOUT_DAY", "Tue")
    assert Settings().payout_day == 1
    monkeypatch.setenv("PAYOUT_DAY", "someday")
    with pytest.raises(ValidationError, match="weekday such as friday"):
        Settings()


def test_a_payout_minimum_with_fractions_of_a_cent_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYOUT_MINIMUM", "100.005")
    with pytest.raises(ValidationError, match="two decimals"):
        Settings()


def test_the_over_offer_default_is_the_one_matching_measured() -> None:
    # Settings cannot import matching (it drags numpy and scipy into every command), so the
    # default is written twice; this keeps the two from drifting apart.
    from matching.round import DEFAULT_OVER_OFFER

    assert Settings(_env_file=None).over_offer == DEFAULT_OVER_OFFER
