"""``karakana simulate``: compare matching policies on a synthetic factory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import err, fail, out, say
from matching import simulator

T = TypeVar("T")


def _numbers(option: str, raw: str | None, kind: Callable[[str], T]) -> list[T] | None:
    if raw is None:
        return None
    try:
        values = [kind(part.strip()) for part in raw.split(",") if part.strip()]
    except ValueError:
        fail(f"{option} takes numbers separated by commas, like 1,2,3; not {raw!r}")
    if not values:
        fail(f"{option} needs at least one number")
    return values


def _shipped() -> str:
    return ", ".join(sorted(p.stem for p in simulator.WORLDS_DIR.glob("*.toml"))) or "none"


def simulate(
    world: Annotated[
        Path | None,
        typer.Option(
            "--world",
            help=(
                f"A world file (TOML), or a shipped world's name ({_shipped()}); "
                f"default {simulator.DEFAULT_WORLD_FILE.name}."
            ),
        ),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Seeds, comma-separated (default: the world's).")
    ] = None,
    weeks: Annotated[
        int | None, typer.Option("--weeks", min=1, help="Simulated weeks (default: the world's).")
    ] = None,
    loads: Annotated[
        str | None,
        typer.Option("--loads", help="Demand as fractions of declared capacity, e.g. 0.5,0.8."),
    ] = None,
    policies: Annotated[
        str | None,
        typer.Option("--policies", help=f"Policies to compare: {', '.join(simulator.POLICIES)}."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the week-by-week PNG here.")
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Write every run's metrics here as JSON (docs/benchmarks.md names)."
        ),
    ] = None,
) -> None:
    """Compare matching policies on a synthetic factory with hidden truth (no database needed).

    Every policy runs on the same worlds and outcome streams per (load, seed); the table shows the
    headline (good pieces on time per piece ordered), fill, quality, fairness and newcomers.
    """
    seed_list = _numbers("--seeds", seeds, int)
    load_list = _numbers("--loads", loads, float)
    policy_list = None if policies is None else [p.strip() for p in policies.split(",") if p]
    try:
        chosen = simulator.load_world(str(world) if world is not None else None)
    except ValueError as exc:
        fail(str(exc))
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    ) as bar:
        task = bar.add_task("simulating", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        try:
            report = simulator.run(
                chosen,
                seeds=seed_list,
                weeks=weeks,
                loads=load_list,
                policies=policy_list,
                progress=progress,
            )
        except ValueError as exc:
            fail(str(exc))
    if json_file is not None:
        try:
            json_file.write_text(json.dumps(report.as_json(), indent=1) + "\n")
        except OSError as exc:
            fail(f"cannot write the JSON to {json_file}: {exc.strerror or exc}")
    header, rows = report.summary_rows()
    table = Table(
        title=f"{len(report.seeds)} seed(s) x {report.weeks} weeks, {report.seconds:.1f} s",
        show_lines=False,
    )
    for name in header:
        table.add_column(name, justify="left" if name in ("load", "policy") else "right")
    for row in rows:
        table.add_row(*row)
    out().print(table)
    if plot is not None:
        try:
            written = simulator.render_plot(report, plot)
        except ImportError:
            fail("the plot needs matplotlib: .venv/bin/pip install matplotlib")
        except OSError as exc:
            fail(f"cannot write the plot to {plot}: {exc.strerror or exc}")
        say(f"Wrote the week-by-week plot to {written}.")
