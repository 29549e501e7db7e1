"""`karakana run` as a newcomer starts it: a fresh database, no accounts, one process that serves
the local web chat and /healthz and stops cleanly on SIGTERM; on a port already taken, one plain
line saying so and how to pick another, before anything else happens."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx

KARAKANA = Path(sys.executable).parent / "karakana"
CHANNEL_SETTINGS = (
    "PUBLIC_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_WHATSAPP_FROM",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_with_no_accounts_serves_the_web_chat_and_stops_gracefully_on_sigterm(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if name not in CHANNEL_SETTINGS}
    env |= {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'karakana.db'}",
        "MEDIA_DIR": str(tmp_path / "media"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        str(KARAKANA),
        "run",
        cwd=tmp_path,  # no .env here
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        health = None
        async with httpx.AsyncClient(trust_env=False) as client:
            # A ceiling, not a wait: a fresh database is migrated and the demo seeded first,
            # which takes seconds on a busy CI box.
            deadline = asyncio.get_running_loop().time() + 90
            while asyncio.get_running_loop().time() < deadline:
                try:
                    health = await client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert health is not None, "karakana run never answered /healthz"
            page = await client.get(f"http://127.0.0.1:{port}/")
        assert health.status_code == 200
        assert health.json()["checks"]["database"] == "ok"
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]

        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    output = stdout.decode()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "Seeded the demo factory" in output
    assert f"http://127.0.0.1:{port}/" in output
    assert "Karakana stopped." in output
    logs = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert {"Karakana is running", "Karakana stopped"} <= {entry["message"] for entry in logs}
    # A fresh database missed no slot: no daily or weekly job runs just because it started.
    assert not [e["message"] for e in logs if e["message"].startswith("scheduled job")]
    assert any(e["message"].startswith("first start for scheduled job") for e in logs)


def _environment(tmp_path: Path, port: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in CHANNEL_SETTINGS}
    return env | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'karakana.db'}",
        "MEDIA_DIR": str(tmp_path / "media"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "LOG_LEVEL": "INFO",
    }


async def test_run_on_a_port_already_taken_says_so_in_one_line_and_exits_before_anything_runs(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        process = await asyncio.create_subprocess_exec(
            str(KARAKANA),
            "run",
            cwd=tmp_path,
            env=_environment(tmp_path, port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 1
    assert stdout.decode() == ""
    assert stderr.decode().splitlines() == [
        f"Port {port} on 127.0.0.1 is already in use (another Karakana, or another program): "
        f"stop it, or pick another port, e.g. PORT={port + 1} make run"
    ]
    assert not (tmp_path / "karakana.db").exists()  # no database made, no job run, no demo
