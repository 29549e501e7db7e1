"""``karakana run`` as a real child process on a loopback port, wired to fake providers.

Used by the fault tests (which SIGKILL it) and by the benchmarks in bench/. The port is chosen
once and kept across restarts, so the public URL that Twilio signatures cover stays the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

KARAKANA = Path(sys.executable).parent / "karakana"
_PROVIDER_SETTINGS = (
    "PUBLIC_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_WHATSAPP_FROM",
    "TWILIO_API_BASE_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_BASE_URL",
    "DATABASE_URL",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServerProcess:
    """One ``karakana run`` child; ``start`` after ``kill`` restarts it on the same database."""

    workdir: Path
    settings: dict[str, str]
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _PROVIDER_SETTINGS}
        return env | {
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "MEDIA_DIR": str(self.workdir / "media"),
            "LOG_LEVEL": "WARNING",
            "NO_COLOR": "1",
            **self.settings,
        }

    async def start(self, *, within: float = 60.0) -> None:
        """Start (or restart) the server and wait until /healthz answers 200."""
        self.starts += 1
        log = self.workdir / f"karakana-{self.starts}.log"
        with log.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                str(KARAKANA),
                "run",
                cwd=self.workdir,  # no .env here
                env=self.environment(),
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = asyncio.get_running_loop().time() + within
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"karakana run exited: {log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"karakana run never became healthy: {log.read_text()}")
                await asyncio.sleep(0.05)

    async def prepare(self) -> None:
        """``karakana run --prepare-only``: upgrade the database and seed the demo, then exit."""
        log = self.workdir / "karakana-prepare.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                str(KARAKANA),
                "run",
                "--prepare-only",
                cwd=self.workdir,
                env=self.environment(),
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )
            if await process.wait() != 0:
                raise RuntimeError(f"karakana run --prepare-only failed: {log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a power cut or the OOM killer."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM and wait (a graceful stop), killing it if it hangs."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout=20)
        except TimeoutError:
            self.kill()
            await self.process.wait()
