"""A local S3 server (moto's ThreadedMotoServer) on an ephemeral loopback port, for the object
store's tests; each test takes a bucket of its own (``new_bucket``), so tests never see each
other's objects even when they share one server per module."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.storage.objects import ObjectStore, ObjectStoreConfig

KEY_ID = "testing-key-id"
SECRET = "testing-secret-key"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def config(self, bucket: str, prefix: str = "karakana") -> ObjectStoreConfig:
        return ObjectStoreConfig(
            url=f"s3://{bucket}/{prefix}",
            endpoint_url=self.endpoint_url,
            region=REGION,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
        )

    def new_bucket(self) -> str:
        """An empty bucket with a name no other test uses."""
        bucket = f"karakana-{uuid.uuid4().hex[:12]}"
        store = ObjectStore(self.config(bucket))
        store._client.create_bucket(Bucket=bucket)
        store.close()
        return bucket

    def settings(self, bucket: str, prefix: str = "karakana") -> dict[str, Any]:
        """``Settings`` values that point Karakana at ``bucket`` on this server."""
        return {
            "object_store_url": f"s3://{bucket}/{prefix}",
            "object_store_endpoint_url": self.endpoint_url,
            "object_store_region": REGION,
            "object_store_access_key_id": KEY_ID,
            "object_store_secret_access_key": SECRET,
        }


@contextmanager
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    # Port 0 lets the kernel choose; the bound address is read back after start().
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
