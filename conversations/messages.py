"""What the engine receives and says, whatever the channel: the only shapes adapters translate."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.model import Channel

# Short enough for Telegram's 64-byte callback data, plain enough to log and to bind to a person.
_PAYLOAD = re.compile(r"[a-z][a-z0-9_]*(?::[A-Za-z0-9_-]+){0,4}")
MAX_PAYLOAD_LENGTH = 64


class InvalidPayload(ValueError):
    pass


def check_payload(payload: str) -> str:
    if len(payload) > MAX_PAYLOAD_LENGTH or not _PAYLOAD.fullmatch(payload):
        raise InvalidPayload(
            f"choice payload {payload!r} must look like 'word:12:word' and be at most "
            f"{MAX_PAYLOAD_LENGTH} characters"
        )
    return payload


@dataclass(frozen=True, slots=True)
class MediaItem:
    """A file the person sent or we send; ``ref`` names it in our media store, never a URL."""

    content_type: str
    size: int
    ref: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True, slots=True)
class Incoming:
    channel: Channel
    address: str
    provider_message_id: str
    text: str = ""
    media: tuple[MediaItem, ...] = ()
    button_payload: str | None = None
    received_at: datetime | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "channel": str(self.channel),
                "address": self.address,
                "provider_message_id": self.provider_message_id,
                "text": self.text,
                "media": [_media_json(m) for m in self.media],
                "button_payload": self.button_payload,
                "received_at": None if self.received_at is None else self.received_at.isoformat(),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, payload: str) -> Incoming:
        raw: dict[str, Any] = json.loads(payload)
        received = raw.get("received_at")
        return cls(
            channel=Channel(raw["channel"]),
            address=raw["address"],
            provider_message_id=raw["provider_message_id"],
            text=raw.get("text", ""),
            media=tuple(_media_from_json(m) for m in raw.get("media", ())),
            button_payload=raw.get("button_payload"),
            received_at=None if received is None else datetime.fromisoformat(received),
        )


@dataclass(frozen=True, slots=True)
class Choice:
    """An option offered with a reply: a button, or a numbered line on text-only channels."""

    payload: str
    label: str

    def __post_init__(self) -> None:
        check_payload(self.payload)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    choices: tuple[Choice, ...] = ()
    media: tuple[MediaItem, ...] = field(default=())
    # The same message in a few words, for channels paid by the message (SMS, see
    # conversations/sms.py); None: the text is compacted instead.
    short: str | None = None
    # False for a question whose typed number is its answer (how many pieces?): its choices are
    # shortcuts taken by their button or word ("All 15"), shown without a number so nobody reads
    # "1" as one of them (see ``Expect.QUANTITY``).
    numbered: bool = True

    def to_json(self) -> str:
        raw: dict[str, Any] = {
            "text": self.text,
            "choices": [{"payload": c.payload, "label": c.label} for c in self.choices],
            "media": [_media_json(m) for m in self.media],
        }
        if self.short is not None:
            raw["short"] = self.short
        if not self.numbered:
            raw["numbered"] = False
        return json.dumps(raw, ensure_ascii=False)

    @classmethod
    def from_json(cls, body: str) -> Reply:
        raw: dict[str, Any] = json.loads(body)
        return cls(
            text=raw["text"],
            choices=tuple(Choice(c["payload"], c["label"]) for c in raw.get("choices", ())),
            media=tuple(_media_from_json(m) for m in raw.get("media", ())),
            short=raw.get("short"),
            numbered=raw.get("numbered", True),
        )

    def as_plain_text(self) -> str:
        """The reply as one text, choices as numbered lines (WhatsApp without buttons, console)."""
        if not self.choices:
            return self.text
        if not self.numbered:  # shortcuts of a quantity question: a typed number is a count
            return self.text + "\n\n" + "\n".join(f"• {c.label}" for c in self.choices)
        options = "\n".join(f"{n}. {c.label}" for n, c in enumerate(self.choices, start=1))
        return f"{self.text}\n\n{options}"


def _media_json(item: MediaItem) -> dict[str, Any]:
    return {"content_type": item.content_type, "size": item.size, "ref": item.ref}


def _media_from_json(raw: dict[str, Any]) -> MediaItem:
    return MediaItem(raw["content_type"], int(raw["size"]), raw["ref"])
