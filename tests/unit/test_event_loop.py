"""``karakana run`` serves on uvloop where it is installed (a project dependency off Windows)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.cli.run import run_event_loop


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build")
def test_the_server_runs_on_uvloop() -> None:
    loops: list[str] = []

    async def probe() -> None:
        loops.append(type(asyncio.get_running_loop()).__module__)

    run_event_loop(probe())

    assert len(loops) == 1
    assert loops[0].startswith("uvloop")
