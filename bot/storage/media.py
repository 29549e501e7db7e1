"""``bot.channels.media.MediaStore`` in the object store: the same refs, one object each.

A ref is ``<uuid hex>.<ext>`` exactly as ``LocalMediaStore`` issues them, kept under
``media/<ref>``; so a ref saved by one process is loaded by any other (a photo received on host A
is sent by host B's outbox through a signed ``/media`` link). Nothing a sender controls reaches
the key: the ref is ours, and one that does not look like ours is refused before any request.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime

from bot.channels.media import (
    ACCEPTED_DOCUMENT_TYPES,
    ACCEPTED_IMAGE_TYPES,
    OUTBOUND_DOCUMENT_TYPES,
)
from bot.storage.objects import ObjectStore

MEDIA_PREFIX = "media/"
_EXTENSIONS = {**ACCEPTED_IMAGE_TYPES, **ACCEPTED_DOCUMENT_TYPES, **OUTBOUND_DOCUMENT_TYPES}
_REF = re.compile(
    r"[0-9a-f]{32}(?:" + "|".join(re.escape(e) for e in sorted(set(_EXTENSIONS.values()))) + ")"
)


class ObjectMediaStore:
    """Media as objects ``media/<ref>`` in an :class:`ObjectStore`."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    def key(self, ref: str) -> str:
        if not _REF.fullmatch(ref):
            raise ValueError(f"{ref!r} is not a media reference this store issued")
        return MEDIA_PREFIX + ref

    async def save(self, content: bytes, content_type: str) -> str:
        extension = _EXTENSIONS.get(content_type)
        if extension is None:
            raise ValueError(f"the media store keeps only images and documents, not {content_type}")
        ref = f"{uuid.uuid4().hex}{extension}"
        await asyncio.to_thread(self.objects.put, self.key(ref), content, content_type)
        return ref

    async def load(self, ref: str) -> bytes:
        return await asyncio.to_thread(self.objects.get, self.key(ref))

    async def exists(self, ref: str) -> bool:
        return await asyncio.to_thread(self.objects.exists, self.key(ref))

    async def refs_older_than(self, cutoff: datetime) -> list[str]:
        """The refs of media last written before ``cutoff`` (for the housekeeping purge)."""

        def scan() -> list[str]:
            return [
                item.key[len(MEDIA_PREFIX) :]
                for item in self.objects.list(MEDIA_PREFIX)
                if item.modified < cutoff and _REF.fullmatch(item.key[len(MEDIA_PREFIX) :])
            ]

        return await asyncio.to_thread(scan)

    async def delete(self, ref: str) -> None:
        await asyncio.to_thread(self.objects.delete, self.key(ref))
