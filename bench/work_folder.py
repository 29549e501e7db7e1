"""A benchmark's work folder (its database, the server's logs, media): gone after a good run,
kept and named after a failure or when asked, so repeated runs do not fill /tmp."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


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
