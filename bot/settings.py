"""Every setting Karakana reads, in one validated class.

Only the composition root (bot/main.py) and the CLI build a ``Settings``; everything below ``bot``
receives plain values as arguments. Every field here is documented in ``.env.example``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.payments.daraja import CALLBACK_TOKEN_PATTERN

# Values people leave in a copied .env file; a secret that looks like one of these is refused
# rather than sent to Twilio or Telegram.
_PLACEHOLDERS = frozenset(
    {"change_me", "changeme", "changethis", "your_token_here", "secret", "xxx", "todo", "..."}
)
_SECRETS = (
    "twilio_auth_token",
    "telegram_bot_token",
    "telegram_webhook_secret",
    "mpesa_consumer_key",
    "mpesa_consumer_secret",
    "mpesa_initiator_password",
    "shopify_webhook_secret",
    "shopify_admin_token",
    "at_api_key",
    "at_callback_token",
    "console_secret_key",
    "object_store_access_key_id",
    "object_store_secret_access_key",
)
MPESA_SANDBOX_URL = "https://sandbox.safaricom.co.ke"
MPESA_PRODUCTION_URL = "https://api.safaricom.co.ke"
_DURATION = re.compile(r"(\d+)\s*(s|m|min|h|d)", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
_DURATIONS = (
    "match_interval",
    "offer_ttl",
    "offer_expiry_interval",
    "payout_send_interval",
    "payouts_in_doubt_after",
    "material_request_reminder_after",
    "question_reminder_after",
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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
    # --- the object store (bot/storage): media and models shared by several machines ------------
    object_store_url: str | None = Field(
        default=None,
        description="s3://bucket/prefix: keep media and models there instead of MEDIA_DIR and "
        "MODELS_DIR (needs the s3 extra).",
    )
    object_store_endpoint_url: str | None = Field(
        default=None, description="An S3-compatible server (MinIO, R2, moto); unset: AWS."
    )
    object_store_region: str | None = Field(default=None)
    object_store_access_key_id: SecretStr | None = Field(default=None)
    object_store_secret_access_key: SecretStr | None = Field(default=None)
    conversation_idle_minutes: int = Field(
        default=720, gt=0, description="A half-finished conversation starts over after this."
    )

    # --- the HTTP server ---------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Where `karakana run` listens.")
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = Field(
        default=None,
        description="The https URL Twilio and Telegram call us at (behind any proxy); "
        "webhook signatures are checked against it.",
    )

    # --- WhatsApp through Twilio ---------------------------------------------------------------
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = Field(
        default=None, description="Our WhatsApp sender, e.g. whatsapp:+14155238886."
    )
    twilio_api_base_url: str = Field(default="https://api.twilio.com")
    whatsapp_template_sids: Annotated[dict[str, str | dict[str, str]], NoDecode] = Field(
        default_factory=dict,
        description="Approved content templates for business messages outside the 24-hour "
        "window, as JSON: a topic (the first button's payload prefix, e.g. verify) or "
        '\'default\' -> content SID, or -> {language: content SID} ({"offer": {"sw": '
        '"HX..", "en": "HX.."}}); the template\'s {{1}} receives the message text.',
    )

    # --- Telegram ------------------------------------------------------------------------------
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = Field(default="https://api.telegram.org")

    # --- the outbox and media ------------------------------------------------------------------
    whatsapp_send_rate: float = Field(default=10.0, gt=0, description="Messages per second.")
    telegram_send_rate: float = Field(default=25.0, gt=0, description="Messages per second.")
    outbox_max_attempts: int = Field(default=8, ge=1)
    media_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)

    # --- M-Pesa Daraja (B2C payouts) -----------------------------------------------------------
    mpesa_api_base_url: str = Field(
        default=MPESA_SANDBOX_URL,
        description=f"Daraja: {MPESA_SANDBOX_URL} (sandbox) or {MPESA_PRODUCTION_URL}.",
    )
    mpesa_consumer_key: SecretStr | None = None
    mpesa_consumer_secret: SecretStr | None = None
    mpesa_shortcode: str | None = Field(default=None, description="The B2C paybill shortcode.")
    mpesa_initiator_name: str | None = None
    mpesa_initiator_password: SecretStr | None = None
    mpesa_certificate_path: Path | None = Field(
        default=None, description="M-Pesa's public certificate (PEM) for the API base URL used."
    )
    mpesa_request_timeout: float = Field(default=30.0, gt=0, description="Seconds per call.")
    mpesa_callback_token: SecretStr | None = Field(
        default=None,
        description="Secret path segment in Daraja's callback URLs (16+ URL-safe characters).",
    )
    mpesa_max_in_flight: int = Field(
        default=8, ge=1, description="Payment requests awaiting Daraja's answer at once."
    )
    mpesa_requests_per_second: float | None = Field(
        default=None, gt=0, description="Pace calls to Daraja; unset: no pacing."
    )

    # --- Africa's Talking: SMS and USSD for artisans without a smartphone (issue 18) ---------
    at_username: str | None = Field(
        default=None, description="Africa's Talking app username ('sandbox' for the sandbox)."
    )
    at_api_key: SecretStr | None = Field(default=None, description="The app's API key.")
    at_sender_id: str | None = Field(
        default=None, description="Registered alphanumeric sender ID or shortcode; unset: shared."
    )
    at_api_base_url: str = Field(
        default="https://api.sandbox.africastalking.com",
        description="https://api.sandbox.africastalking.com or https://api.africastalking.com.",
    )
    at_callback_token: SecretStr | None = Field(
        default=None,
        description="Secret path segment in the SMS and USSD callback URLs (16+ URL-safe "
        "characters); Africa's Talking does not sign callbacks.",
    )
    sms_send_rate: float = Field(default=5.0, gt=0, description="SMS per second.")
    sms_daily_budget: int | None = Field(
        default=None, ge=0, description="SMS segments the factory sends a day; unset: no limit."
    )
    sms_daily_budget_per_person: int | None = Field(
        default=40, ge=0, description="SMS segments one person gets a day; unset: no limit."
    )

    # --- orders from the web shop (Shopify) and retailers' API --------------------------------
    shopify_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The app's secret Shopify signs webhooks with (X-Shopify-Hmac-Sha256); "
        "without it POST /shop/shopify/orders refuses everything.",
    )
    shopify_api_base_url: str | None = Field(
        default=None,
        description="The shop's Admin API, e.g. https://SHOP.myshopify.com/admin/api/2025-01.",
    )
    shopify_admin_token: SecretStr | None = Field(
        default=None, description="The Admin API access token (write_fulfillments)."
    )
    shopify_customer_name: str = Field(
        default="Web shop", min_length=1, max_length=120, description="Whose orders they are."
    )
    shopify_default_lead_days: int = Field(
        default=21, ge=1, le=365, description="Due date of a web-shop order with none given."
    )
    customer_callback_timeout: float = Field(
        default=10.0, gt=0, description="Seconds per call to Shopify or a retailer's callback."
    )

    # --- the scheduler -------------------------------------------------------------------------
    match_interval: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    match_seed: int | None = Field(
        default=None, description="Seeds matching's exploration; unset: fresh at each start."
    )
    models_dir: Path = Field(
        default=Path("models"), description="Matching's calibrated models, one folder a version."
    )
    offer_ttl: timedelta = Field(default=timedelta(hours=24), gt=timedelta(0))
    min_lot: int = Field(default=10, ge=1)
    max_splits: int = Field(default=4, ge=1)
    over_offer: float = Field(
        default=2.0,  # matching.round.DEFAULT_OVER_OFFER, measured by bench/bench_simulator.py
        ge=1.0,
        le=3.0,
        description="Open offers of a job may hold up to this many times its untaken pieces.",
    )
    offer_expiry_interval: timedelta = Field(default=timedelta(minutes=5), gt=timedelta(0))
    payout_day: int = Field(default=4, ge=0, le=6, description="0 = Monday ... 4 = Friday.")
    payout_time: time = Field(default=time(10, 0), description="Local time (TIMEZONE).")
    payout_minimum: Decimal = Field(
        default=Decimal("500"), gt=0, description="Smaller balances wait (in CURRENCY)."
    )
    payout_auto_approve_limit: Decimal = Field(
        default=Decimal("0"), ge=0, description="Batches up to this total need no admin; 0: never."
    )
    payout_max_per_artisan: Decimal = Field(
        default=Decimal("100000"), gt=0, description="The most one payout may pay (in CURRENCY)."
    )
    payout_max_per_batch: Decimal = Field(
        default=Decimal("2000000"), gt=0, description="The most one batch may pay (in CURRENCY)."
    )
    payout_maker_checker: bool = Field(
        default=True,
        description="With more than one admin, the admin who made a batch cannot approve it.",
    )
    payout_send_interval: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))
    payouts_in_doubt_after: timedelta = Field(default=timedelta(minutes=10), ge=timedelta(0))
    reminders_time: time = Field(default=time(8, 0))
    reminders_due_soon_days: int = Field(default=2, ge=0)
    material_request_reminder_after: timedelta = Field(
        default=timedelta(days=2),
        gt=timedelta(0),
        description="An open material request older than this is in the agents' daily reminder.",
    )
    question_reminder_after: timedelta = Field(
        default=timedelta(hours=4),
        gt=timedelta(0),
        description="An artisan's question unanswered this long is reminded about, once.",
    )
    cancelled_work_grace_days: int = Field(
        default=7,  # domain.services.jobs.DEFAULT_CANCELLED_WORK_GRACE_DAYS
        ge=0,
        le=365,
        description="Days after a cancellation made pieces are still accepted for QC.",
    )
    housekeeping_time: time = Field(default=time(3, 0))
    retraining_time: time = Field(default=time(2, 0))
    media_max_age_days: int = Field(default=30, ge=1)
    outbox_max_age_days: int = Field(default=30, ge=1)

    # --- the staff web console (/console, issue 19) --------------------------------------------
    console_secret_key: SecretStr | None = Field(
        default=None,
        description="Signs console sessions and keys the digests of login codes (32+ "
        "characters); required beside any real channel, a fresh one per start in the demo.",
    )
    console_session_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="A console session ends this long after login."
    )
    console_code_minutes: int = Field(
        default=10, ge=1, le=60, description="A console login code works this long, once."
    )

    @field_validator("whatsapp_template_sids", mode="before")
    @classmethod
    def _templates_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    'WHATSAPP_TEMPLATE_SIDS must be JSON like {"default": "HX0123..."}'
                ) from exc
        return value

    @field_validator(*_SECRETS)
    @classmethod
    def _not_a_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if not raw:
            return None
        if raw.casefold() in _PLACEHOLDERS or "change_me" in raw.casefold():
            raise ValueError(
                "is still the example placeholder; set the real secret or leave it out"
            )
        return SecretStr(raw)

    @field_validator(*_DURATIONS, mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """``15m``, ``24h``, ``2d``, ``90s`` or ``1h30m``; a bare number is seconds; ISO 8601
        (``PT15M``) and ``HH:MM:SS`` work too."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.isdigit():
            return timedelta(seconds=int(text))
        parts = _DURATION.findall(text)
        if parts and _DURATION.sub("", text).strip() == "":
            return timedelta(**{_UNITS[u.casefold()]: int(n) for n, u in parts})
        return text

    @field_validator("payout_day", mode="before")
    @classmethod
    def _weekday(cls, value: Any) -> Any:
        # "friday" or "fri" reads better in a .env file than 4.
        if isinstance(value, str) and not value.strip().isdigit():
            name = value.strip().casefold()
            for number, day in enumerate(_WEEKDAYS):
                if len(name) >= 3 and day.startswith(name):
                    return number
            raise ValueError(f"PAYOUT_DAY must be a weekday such as friday, not {value!r}")
        return value

    @field_validator(
        "payout_minimum",
        "payout_auto_approve_limit",
        "payout_max_per_artisan",
        "payout_max_per_batch",
    )
    @classmethod
    def _whole_cents(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("an amount has at most two decimals (cents)")
        return value

    @field_validator("mpesa_certificate_path", mode="before")
    @classmethod
    def _blank_path_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "public_base_url",
        "twilio_account_sid",
        "twilio_whatsapp_from",
        "mpesa_shortcode",
        "mpesa_initiator_name",
    )
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.strip().casefold() in _PLACEHOLDERS or "change_me" in value.casefold():
            raise ValueError("is still the example placeholder; set the real value or leave it out")
        return value.strip()

    @field_validator(
        "public_base_url", "twilio_api_base_url", "telegram_api_base_url", "mpesa_api_base_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} must be an http(s) URL like https://bot.example.org")
        return value.rstrip("/")

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

    @model_validator(mode="after")
    def _object_store(self) -> Settings:
        """An s3://bucket/prefix URL, and both keys or neither (then boto3's own chain)."""
        if self.object_store_url is not None:
            from bot.storage.objects import parse_url

            parse_url(self.object_store_url)  # ValueError names the bad URL
        elif self.object_store_endpoint_url is not None:
            raise ValueError("OBJECT_STORE_ENDPOINT_URL is set but OBJECT_STORE_URL is not")
        keys = (self.object_store_access_key_id, self.object_store_secret_access_key)
        if (keys[0] is None) != (keys[1] is None):
            raise ValueError(
                "set both OBJECT_STORE_ACCESS_KEY_ID and OBJECT_STORE_SECRET_ACCESS_KEY, or neither"
            )
        return self

    @model_validator(mode="after")
    def _whole_twilio(self) -> Settings:
        parts = {
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_WHATSAPP_FROM": self.twilio_whatsapp_from,
        }
        missing = [name for name, value in parts.items() if value is None]
        if 0 < len(missing) < len(parts):
            raise ValueError(
                f"WhatsApp needs all three Twilio settings; missing {', '.join(missing)}"
            )
        if not missing and self.public_base_url is None:
            raise ValueError(
                "WhatsApp needs PUBLIC_BASE_URL: Twilio must be able to call /whatsapp/webhook"
            )
        return self

    @model_validator(mode="after")
    def _secret_at_callback_token(self) -> Settings:
        """The only thing between the internet and the USSD menu (and SMS callbacks)."""
        token = self.at_callback_token
        if token is not None and not CALLBACK_TOKEN_PATTERN.fullmatch(token.get_secret_value()):
            raise ValueError(
                "AT_CALLBACK_TOKEN must be at least 16 URL-safe characters (letters, digits, "
                "- and _): generate one with python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        return self

    @model_validator(mode="after")
    def _whole_mpesa(self) -> Settings:
        parts = self._mpesa_parts()
        missing = [name for name, value in parts.items() if value is None]
        if 0 < len(missing) < len(parts):
            raise ValueError(
                f"M-Pesa payouts need all six M-Pesa settings; missing {', '.join(missing)}"
            )
        if not missing and self.public_base_url is None:
            raise ValueError(
                "M-Pesa needs PUBLIC_BASE_URL: Daraja posts payment results to "
                "PUBLIC_BASE_URL/mpesa/[MPESA_CALLBACK_TOKEN/]b2c/result"
            )
        token = self.mpesa_callback_token
        if token is not None and not CALLBACK_TOKEN_PATTERN.fullmatch(token.get_secret_value()):
            raise ValueError(
                "MPESA_CALLBACK_TOKEN must be at least 16 URL-safe characters (letters, digits, "
                "- and _): generate one with python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        if self.mpesa_certificate_path is not None and not self.mpesa_certificate_path.is_file():
            raise ValueError(
                f"MPESA_CERTIFICATE_PATH {self.mpesa_certificate_path} is not a file: download "
                "M-Pesa's certificate for your environment from the Daraja portal"
            )
        return self

    def _mpesa_parts(self) -> dict[str, object]:
        return {
            "MPESA_CONSUMER_KEY": self.mpesa_consumer_key,
            "MPESA_CONSUMER_SECRET": self.mpesa_consumer_secret,
            "MPESA_SHORTCODE": self.mpesa_shortcode,
            "MPESA_INITIATOR_NAME": self.mpesa_initiator_name,
            "MPESA_INITIATOR_PASSWORD": self.mpesa_initiator_password,
            "MPESA_CERTIFICATE_PATH": self.mpesa_certificate_path,
        }

    @model_validator(mode="after")
    def _telegram_webhook_secret(self) -> Settings:
        if self.telegram_uses_webhook and self.telegram_webhook_secret is None:
            raise ValueError(
                "a Telegram webhook needs TELEGRAM_WEBHOOK_SECRET (any long random string), so "
                "nobody but Telegram can post updates to /telegram/webhook"
            )
        return self

    @property
    def whatsapp_configured(self) -> bool:
        return self.twilio_auth_token is not None

    @property
    def sms_configured(self) -> bool:
        """SMS through Africa's Talking: a username and an API key."""
        return self.at_username is not None and self.at_api_key is not None

    @property
    def mpesa_configured(self) -> bool:
        return all(value is not None for value in self._mpesa_parts().values())

    @property
    def payout_minimum_cents(self) -> int:
        return int(self.payout_minimum * 100)

    @property
    def payout_auto_approve_limit_cents(self) -> int:
        return int(self.payout_auto_approve_limit * 100)

    @property
    def payout_max_per_artisan_cents(self) -> int:
        return int(self.payout_max_per_artisan * 100)

    @property
    def payout_max_per_batch_cents(self) -> int:
        return int(self.payout_max_per_batch * 100)

    @property
    def secrets(self) -> list[str]:
        """Every configured secret's value, for the log filter to remove."""
        return [
            secret.get_secret_value()
            for name in _SECRETS
            if (secret := getattr(self, name)) is not None
        ]

    @property
    def shopify_fulfillments_configured(self) -> bool:
        return self.shopify_api_base_url is not None and self.shopify_admin_token is not None

    @property
    def telegram_configured(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def telegram_uses_webhook(self) -> bool:
        """A webhook when Telegram can reach us; long polling otherwise."""
        return self.telegram_configured and self.public_base_url is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def is_loopback_host(host: str) -> bool:
    """Whether ``HOST`` binds to this machine only: 127.0.0.0/8, ::1 or ``localhost``. Any other
    name is refused, even one that resolves to loopback today: what it resolves to can change."""
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".").casefold()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def webchat_refusal(settings: Settings) -> str | None:
    """Why the local web chat must not be served, in plain words; None when it may be.

    The web chat has no login: whoever reaches it can read everyone's name, role and phone and
    speak as an admin. So it is a local demo only: served when no real channel is configured
    (nobody's real number is in reach and nothing real can be paid) and ``HOST`` is loopback
    (nobody else can reach the port)."""
    configured = [
        name
        for name, on in (
            ("WhatsApp", settings.whatsapp_configured),
            ("Telegram", settings.telegram_configured),
            ("M-Pesa", settings.mpesa_configured),
        )
        if on
    ]
    reasons = []
    if configured:
        *others, last = configured
        names = f"{', '.join(others)} and {last}" if others else last
        reasons.append(f"{names} {'are' if others else 'is'} configured")
    if not is_loopback_host(settings.host):
        reasons.append(f"HOST {settings.host!r} is not a loopback address")
    if not reasons:
        return None
    return (
        f"The local web chat is off: {' and '.join(reasons)}; it is served only when no channel "
        "(WhatsApp, Telegram, M-Pesa) is configured and HOST is a loopback address such as "
        "127.0.0.1."
    )
