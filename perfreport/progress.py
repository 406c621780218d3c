"""A minimal progress bar on stderr for long reads: bytes read of the total."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_REDRAW_INTERVAL_S = 0.2
_BAR_WIDTH = 30


class ProgressBar:
    """Draws ``label [#####.....]  42%  840/2000 MB  210 MB/s`` on one line of stderr.

    Redraws at most every 0.2 s; :meth:`close` draws the final state and ends the
    line. Nothing is drawn when ``$PERFREPORT_QUIET`` is set (``perfreport -q``).
    """

    def __init__(
        self, total_bytes: int, *, label: str = "", stream: TextIO | None = None
    ) -> None:
        import os

        self.total_bytes = max(total_bytes, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not os.environ.get("PERFREPORT_QUIET")
        self._start_s = time.monotonic()
        self._last_draw_s = 0.0
        self._done_bytes = 0

    def update(self, done_bytes: int) -> None:
        """Record that ``done_bytes`` of the input have been read."""
        self._done_bytes = done_bytes
        now = time.monotonic()
        if now - self._last_draw_s >= _REDRAW_INTERVAL_S:
            self._last_draw_s = now
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        if not self.enabled:
            return
        share = min(self._done_bytes / self.total_bytes, 1.0)
        filled = int(share * _BAR_WIDTH)
        elapsed_s = max(now - self._start_s, 1e-9)
        rate_mb_s = self._done_bytes / elapsed_s / 1e6
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        done_mb = self._done_bytes / 1e6
        total_mb = self.total_bytes / 1e6
        text = (
            f"\r{self.label} [{bar}] {share:4.0%} "
            f"{done_mb:.0f}/{total_mb:.0f} MB {rate_mb_s:.0f} MB/s"
        )
        self.stream.write(text)
        self.stream.flush()
