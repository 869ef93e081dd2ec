"""Ray's own messages on the driver go to a log file, never to the terminal.

Ray logs its warnings (token authentication, say) through the ``ray`` logger, and prints the errors
its processes report (a task retried after its worker was killed, with ANSI colours) on the
driver's stdout. While a batch runs, both go to its Ray log, beside the summary: the terminal shows
dvcp's progress, its result and its errors, one line each.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ray_log_path(summary: Path) -> Path:
    """Where a batch whose summary is ``summary`` logs Ray's messages: ``NAME.ray.log`` beside it."""
    return summary.with_suffix(".ray.log")


@contextmanager
def ray_messages_to(path: Path) -> Iterator[None]:
    """Send the ``ray`` logger's records and the errors Ray prints on the driver to ``path`` (created only
    when Ray says something)."""
    from ray._private import worker as ray_worker

    logger = logging.getLogger("ray")
    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    saved = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [handler], False
    printer = ray_worker.print_to_stdstream

    def to_log(data: dict[str, Any], ignore_prefix: bool) -> None:
        for line in data.get("lines", []):
            logger.warning("(%s) %s", data.get("pid", "ray"), _ANSI.sub("", str(line)))

    ray_worker.print_to_stdstream = to_log
    try:
        yield
    finally:
        ray_worker.print_to_stdstream = printer
        logger.handlers, logger.propagate = saved
        handler.close()
