"""Request bodies read with a ceiling, for every endpoint a provider posts to.

Twilio's forms, Telegram's updates and Daraja's callbacks are a few kilobytes; anyone can post
to their URLs, though, and a body read whole before it is checked lets one request take as much
memory as it likes. So a body is refused by its declared length before a byte of it is read, and
otherwise read a chunk at a time and refused the moment it grows past the limit: the length
header may be absent (chunked) or lie, and an oversized body is never held whole.
"""

from __future__ import annotations

from starlette.requests import Request

MAX_WEBHOOK_BYTES = 64 * 1024  # the providers' requests are a few kilobytes


class BodyTooLarge(ValueError):
    """The body is over the limit: answered 413, nothing read beyond it and nothing changed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than the {limit} bytes we accept here")
        self.limit = limit


async def limited_body(request: Request, limit: int = MAX_WEBHOOK_BYTES) -> bytes:
    """The whole body, or ``BodyTooLarge`` as soon as it is known to be over ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)
