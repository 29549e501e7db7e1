"""Where the photos people send end up, and the checks every file passes before it is kept.

Files are stored under an id we choose (never the provider's name or URL), so nothing a sender
controls reaches the filesystem path. Only images are accepted: the declared type must be one we
take and the bytes themselves must start like that kind of image, so a PDF labelled
``image/jpeg`` is still refused. The one exception is an admin's document (``documents=True``,
decided by the caller from the sender's role): a small UTF-8 CSV or plain-text file, such as the
orders CSV ``/import_orders`` reads back through ``MediaDocuments``.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from conversations.messages import MediaItem
from conversations.ports import DocumentUnreadable

# WhatsApp caps images at 5 MB; Telegram photos are recompressed well below that.
DEFAULT_MAX_IMAGE_BYTES = 5 * 1024 * 1024

ACCEPTED_IMAGE_TYPES: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
}
ACCEPTED_DOCUMENT_TYPES: dict[str, str] = {"text/csv": ".csv", "text/plain": ".txt"}
# Files we make and send, never accepted from anyone: artisans' statements (bot/statements).
OUTBOUND_DOCUMENT_TYPES: dict[str, str] = {"application/pdf": ".pdf"}
DEFAULT_MAX_DOCUMENT_BYTES = 1_000_000  # an orders CSV of thousands of lines
_REF = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|webp|csv|txt|pdf)")


class RefusalReason(StrEnum):
    NOT_AN_IMAGE = "not_an_image"
    TOO_LARGE = "too_large"
    DOCUMENT_TOO_LARGE = "document_too_large"
    NOT_UTF8 = "not_utf8"
    UNTRUSTED_HOST = "untrusted_host"
    NOT_FOUND = "not_found"
    FETCH_FAILED = "fetch_failed"


class MediaRefused(Exception):
    """A file someone sent was not downloaded or not kept; ``reason`` says why."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RemoteMedia:
    """A file still at the provider: a Twilio media URL or a Telegram file_id.

    ``declared_type`` is what the provider said the file is, ``declared_size`` its size in bytes
    when known; both are checked again against the real bytes.
    """

    locator: str
    declared_type: str | None = None
    declared_size: int | None = None


def normalise_content_type(value: str | None) -> str | None:
    """``"Image/JPEG; charset=binary"`` -> ``"image/jpeg"``."""
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def sniff_image_type(head: bytes) -> str | None:
    """The image type the bytes really are, from their magic numbers, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def refuse_unless_accepted_type(declared_type: str | None, *, documents: bool = False) -> None:
    """Refuse before downloading when the provider already says it is not an image we take
    (nor, with ``documents``, a CSV or text document)."""
    declared = normalise_content_type(declared_type)
    if documents and declared in ACCEPTED_DOCUMENT_TYPES:
        return
    if declared is not None and declared not in ACCEPTED_IMAGE_TYPES:
        raise MediaRefused(
            RefusalReason.NOT_AN_IMAGE,
            f"{declared} is not accepted; send a photo (JPEG, PNG or WebP)",
        )


def refuse_if_too_large(size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise MediaRefused(
            RefusalReason.TOO_LARGE, f"{size} bytes is over the {max_bytes}-byte limit"
        )


def checked_image_type(content: bytes, declared_type: str | None) -> str:
    """The content type to store ``content`` under, or MediaRefused if it is not an image."""
    refuse_unless_accepted_type(declared_type)
    actual = sniff_image_type(content[:16])
    if actual is None:
        raise MediaRefused(
            RefusalReason.NOT_AN_IMAGE,
            f"the file declared as {declared_type or 'unknown'} is not a JPEG, PNG or WebP image",
        )
    return actual


class MediaStore(Protocol):
    async def save(self, content: bytes, content_type: str) -> str:
        """Keep ``content`` and return the ref it is stored under."""
        ...

    async def load(self, ref: str) -> bytes: ...


class LocalMediaStore:
    """Media in a local folder, one file per item, named ``<uuid hex>.<ext>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, ref: str) -> Path:
        if not _REF.fullmatch(ref):
            raise ValueError(f"{ref!r} is not a media reference this store issued")
        return self.root / ref

    async def save(self, content: bytes, content_type: str) -> str:
        extension = (
            ACCEPTED_IMAGE_TYPES.get(content_type)
            or ACCEPTED_DOCUMENT_TYPES.get(content_type)
            or OUTBOUND_DOCUMENT_TYPES.get(content_type)
        )
        if extension is None:
            raise ValueError(f"the media store keeps only images and documents, not {content_type}")
        ref = f"{uuid.uuid4().hex}{extension}"
        await asyncio.to_thread(self._write, self.path(ref), content)
        return ref

    async def load(self, ref: str) -> bytes:
        return await asyncio.to_thread(self.path(ref).read_bytes)

    def _write(self, target: Path, content: bytes) -> None:
        # Write aside and rename, so a reader never sees half a file after a crash.
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(content)
        os.replace(partial, target)


async def keep_image(
    store: MediaStore, content: bytes, declared_type: str | None, max_bytes: int
) -> MediaItem:
    """Check ``content`` is an accepted image within the limit, store it, describe it."""
    refuse_if_too_large(len(content), max_bytes)
    content_type = checked_image_type(content, declared_type)
    ref = await store.save(content, content_type)
    return MediaItem(content_type=content_type, size=len(content), ref=ref)


def checked_document_type(content: bytes, declared_type: str | None) -> str:
    """The type to store a document under, or MediaRefused unless it really is UTF-8 text."""
    declared = normalise_content_type(declared_type)
    if declared not in ACCEPTED_DOCUMENT_TYPES:
        raise MediaRefused(
            RefusalReason.NOT_AN_IMAGE, f"{declared or 'an untyped file'} is not a CSV or text file"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise MediaRefused(
            RefusalReason.NOT_UTF8,
            f"the file declared as {declared} is not UTF-8 text; save it as 'CSV UTF-8'",
        )
    return declared


async def keep_file(
    store: MediaStore,
    content: bytes,
    declared_type: str | None,
    max_bytes: int,
    *,
    documents: bool = False,
) -> MediaItem:
    """``keep_image``, or with ``documents`` (an admin sent it) also a CSV or text document of
    at most ``DEFAULT_MAX_DOCUMENT_BYTES``."""
    declared = normalise_content_type(declared_type)
    if not documents or declared not in ACCEPTED_DOCUMENT_TYPES:
        return await keep_image(store, content, declared_type, max_bytes)
    limit = min(max_bytes, DEFAULT_MAX_DOCUMENT_BYTES)
    if len(content) > limit:
        raise MediaRefused(
            RefusalReason.DOCUMENT_TOO_LARGE, f"{len(content)} bytes is over the {limit}-byte limit"
        )
    content_type = checked_document_type(content, declared)
    ref = await store.save(content, content_type)
    return MediaItem(content_type=content_type, size=len(content), ref=ref)


class MediaDocuments:
    """``conversations.ports.DocumentReader`` over the media store: an admin's CSV, as text."""

    def __init__(self, store: MediaStore) -> None:
        self._store = store

    async def read_text(self, ref: str) -> str:
        if not ref.endswith(tuple(ACCEPTED_DOCUMENT_TYPES.values())):
            raise DocumentUnreadable(f"{ref} is not a document (send the CSV as a file)")
        try:
            content = await self._store.load(ref)
        except (OSError, ValueError) as exc:
            raise DocumentUnreadable(f"{ref} cannot be read: {exc}") from exc
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentUnreadable(f"{ref} is not UTF-8 text") from exc
