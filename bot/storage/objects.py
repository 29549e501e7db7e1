"""One bucket and key prefix on an S3-compatible server (AWS S3, MinIO, Cloudflare R2, moto).

:class:`ObjectStore` is deliberately small and synchronous (boto3): ``put``, ``get``, ``exists``,
``list``, ``delete``. The async callers run it in a thread (see the package docstring for why).
A missing object raises :class:`ObjectMissing`, a ``FileNotFoundError``, and any other failure
:class:`ObjectStoreError`, an ``OSError``: the same exceptions the local folder raises, so the
``/media`` route and the document reader treat both stores alike.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit


class ObjectStoreUnavailable(RuntimeError):
    """``OBJECT_STORE_URL`` is set but the ``s3`` extra (boto3) is not installed."""


class ObjectStoreError(OSError):
    """The object store refused or failed a request; the message says which and why."""


class ObjectMissing(FileNotFoundError):
    """There is no object under that key."""


@dataclass(frozen=True, slots=True)
class ObjectStoreConfig:
    """Where the bucket is and how to sign in; credentials ``None`` use boto3's own chain
    (``AWS_*`` variables, an instance role)."""

    url: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @property
    def bucket(self) -> str:
        return parse_url(self.url)[0]

    @property
    def prefix(self) -> str:
        return parse_url(self.url)[1]


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix/")``; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not an s3://bucket/prefix URL")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def _boto3() -> Any:
    if importlib.util.find_spec("boto3") is None:
        raise ObjectStoreUnavailable(
            "OBJECT_STORE_URL is set but boto3 is not installed: "
            "pip install 'karakana[s3]' (or unset OBJECT_STORE_URL to keep files on local disk)"
        )
    import boto3  # type: ignore[import-untyped]

    return boto3


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str  # relative to the store's prefix
    size: int
    modified: datetime


class ObjectStore:
    """Objects under ``config.prefix`` in ``config.bucket``; keys given here are relative to it."""

    def __init__(self, config: ObjectStoreConfig) -> None:
        boto3 = _boto3()
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        self.config = config
        self.bucket, self.prefix = parse_url(config.url)
        self._client_error = ClientError
        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
        # Path-style addressing for a custom endpoint: MinIO and moto serve the bucket as the
        # first path segment, not as a host name.
        style = "path" if config.endpoint_url else "auto"
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 4, "mode": "standard"},
                max_pool_connections=32,
                s3={"addressing_style": style},
            ),
        )

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"{key!r} is not a key this store uses")
        return self.prefix + key

    def _fail(self, action: str, key: str, exc: Exception) -> OSError:
        if isinstance(exc, self._client_error):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404", "NotFound"}:
                return ObjectMissing(f"no object {key!r} in s3://{self.bucket}/{self.prefix}")
        return ObjectStoreError(f"object store {action} {key!r} failed: {exc}")

    def check(self) -> None:
        """Raise ObjectStoreError unless the bucket is there and these credentials reach it."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors as exc:
            raise ObjectStoreError(
                f"cannot reach bucket {self.bucket!r} ({self.config.endpoint_url or 'AWS'}): {exc}"
            ) from exc

    def put(self, key: str, content: bytes, content_type: str = "application/octet-stream") -> None:
        """Store ``content`` under ``key``: a PUT is atomic, readers see all of it or nothing."""
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=content, ContentType=content_type
            )
        except self._errors as exc:
            raise self._fail("put", key, exc) from exc

    def get(self, key: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = answer["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
        except self._errors as exc:
            raise self._fail("get", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self._errors as exc:
            failure = self._fail("head", key, exc)
            if isinstance(failure, ObjectMissing):
                return False
            raise failure from exc
        return True

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``, in key order, page by page."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    yield StoredObject(
                        key=str(item["Key"])[len(self.prefix) :],
                        size=int(item["Size"]),
                        modified=item["LastModified"],
                    )
        except self._errors as exc:
            raise self._fail("list", prefix, exc) from exc

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error (S3 semantics)."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except self._errors as exc:
            raise self._fail("delete", key, exc) from exc

    def close(self) -> None:
        self._client.close()


@lru_cache(maxsize=8)
def shared_object_store(config: ObjectStoreConfig) -> ObjectStore:
    """One client per configuration and process: the factory asks for the store several times
    (the engine's documents and attachments, the channels), and each boto3 client holds a pool."""
    return ObjectStore(config)
