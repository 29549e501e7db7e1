"""The fake Daraja in a process of its own, as Safaricom is: for the payout benchmark, so the
fake's CPU (answering requests, posting result callbacks) is not counted as ours.

    python -m tests.fakes.daraja_process [--latency 0.2] [--requests-per-second N]

It serves on 127.0.0.1 (a free port), prints its base URL as its first line, and stops when its
standard input closes. Besides Daraja's API (``tests.fakes.daraja_api.FakeDaraja``) it answers

- ``POST /fake/drain``: once every result callback scheduled so far has been delivered;
- ``GET /fake/truth``: what it holds as the truth about money (:class:`Truth`).

:class:`DarajaProcess` starts one and talks to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from tests.fakes.daraja_api import FakeDaraja
from tests.fakes.server import serving

ROOT = Path(__file__).resolve().parents[2]
STOP_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Paid:
    receipt: str
    amount: int  # whole shillings, as M-Pesa pays


@dataclass(frozen=True)
class Truth:
    """What the fake M-Pesa did: requests it accepted per originator id (never more than one
    each), the payment it made for each, and how busy it was."""

    accepted: Counter[str]
    paid: dict[str, Paid]
    most_in_flight: int
    throttled: int

    @classmethod
    def of(cls, fake: FakeDaraja) -> Truth:
        return cls(
            accepted=Counter(fake.accepted),
            paid={
                originator: Paid(payment.receipt or "", payment.amount)
                for originator, payment in fake.paid.items()
            },
            most_in_flight=fake.most_in_flight,
            throttled=fake.throttled,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": dict(self.accepted),
            "paid": {o: [p.receipt, p.amount] for o, p in self.paid.items()},
            "most_in_flight": self.most_in_flight,
            "throttled": self.throttled,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Truth:
        return cls(
            accepted=Counter({str(o): int(n) for o, n in body["accepted"].items()}),
            paid={str(o): Paid(str(r), int(a)) for o, (r, a) in body["paid"].items()},
            most_in_flight=int(body["most_in_flight"]),
            throttled=int(body["throttled"]),
        )


class DarajaProcess:
    """A fake Daraja running in a child process; ``running()`` starts and stops it."""

    def __init__(self, *, latency: float = 0.0, requests_per_second: float | None = None) -> None:
        self.latency = latency
        self.requests_per_second = requests_per_second
        self.base_url = ""
        self._http: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DarajaProcess]:
        arguments = ["--latency", str(self.latency)]
        if self.requests_per_second is not None:
            arguments += ["--requests-per-second", str(self.requests_per_second)]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fakes.daraja_process",
            *arguments,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), STOP_WAIT_SECONDS)
            self.base_url = line.decode().strip()
            if not self.base_url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the fake Daraja process did not start: {line!r}")
            async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as http:
                self._http = http
                yield self
        finally:
            self._http = None
            process.stdin.close()  # it stops when its input closes
            try:
                await asyncio.wait_for(process.wait(), STOP_WAIT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def drain(self) -> None:
        """Wait until every result callback scheduled so far has been delivered."""
        (await self._client().post("/fake/drain")).raise_for_status()

    async def truth(self) -> Truth:
        response = await self._client().get("/fake/truth")
        response.raise_for_status()
        return Truth.from_json(response.json())

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("the fake Daraja process is not running")
        return self._http


def app_with_controls(fake: FakeDaraja) -> Starlette:
    async def drain(_request: Request) -> JSONResponse:
        await fake.drain()
        return JSONResponse({"drained": True})

    async def truth(_request: Request) -> JSONResponse:
        return JSONResponse(Truth.of(fake).to_json())

    return Starlette(
        routes=[
            Route("/fake/drain", drain, methods=["POST"]),
            Route("/fake/truth", truth, methods=["GET"]),
            Mount("", app=fake.app),
        ]
    )


async def serve(latency: float, requests_per_second: float | None) -> None:
    fake = FakeDaraja(latency=latency, requests_per_second=requests_per_second)
    async with serving(app_with_controls(fake)) as url, fake.in_process(url):
        print(url, flush=True)
        # Until the parent closes our input (or dies): read it on a thread, off the loop.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--requests-per-second", type=float, default=None)
    options = parser.parse_args()
    asyncio.run(serve(options.latency, options.requests_per_second))
