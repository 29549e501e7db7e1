"""A benchmark's work folder (its database, the server's logs, media): gone after a good run,
kept and named after a failure or when asked, so repeated runs do not fill /tmp."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any


def add_keep_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work folder (database, server logs) after a good run too",
    )


@contextlib.contextmanager
def work_folder(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    except BaseException:
        print(f"work folder kept for a look: {folder}", file=sys.stderr)
        raise
    if keep:
        print(f"work folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


def run_in_work_folder(
    parser: argparse.ArgumentParser,
    prefix: str,
    main: Callable[[argparse.Namespace, Path], Coroutine[Any, Any, None]],
) -> None:
    """Parse the command line (with ``--keep``) and run ``main`` in a work folder."""
    add_keep_option(parser)
    arguments = parser.parse_args()
    with work_folder(prefix, keep=arguments.keep) as folder:
        asyncio.run(main(arguments, folder))
