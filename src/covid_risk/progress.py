"""A tiny, dependency-free progress display on standard error.

Two shapes cover what the command line needs:

* :class:`Progress` -- a bar for work that comes in counted steps
  (``[#####.....] 50/100 bootstrap``);
* :func:`stage` -- a spinner with the elapsed time for one long call that
  reports no steps (``| training model 12s``), ending in ``done in 12.3 s``.

Both stay completely silent when the stream is not a terminal (pipes, files,
CI logs, captured output) or when ``quiet=True``, so they never pollute output
that a program reads. Neither changes what the wrapped work does or returns.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TypeVar

__all__ = ["Progress", "is_enabled", "stage", "track"]

T = TypeVar("T")

_SPINNER = "|/-\\"


def is_enabled(stream: IO[str] | None = None, *, quiet: bool = False) -> bool:
    """Return whether progress should be drawn on ``stream``.

    Parameters
    ----------
    stream : text stream, optional
        Where progress would go (default: the current ``sys.stderr``).
    quiet : bool, default=False
        ``True`` always disables progress (the ``--quiet`` flag).

    Returns
    -------
    bool
        ``True`` only when not quiet and ``stream`` is an interactive terminal.
    """
    if quiet:
        return False
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # closed or detached stream
        return False


def _fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes} min {sec:02d} s"


class Progress:
    """A one-line progress bar for counted work.

    Parameters
    ----------
    total : int or None
        Number of steps; ``None`` shows a running count without a bar.
    desc : str, default=""
        What is being done, shown after the count.
    quiet : bool, default=False
        Draw nothing at all.
    stream : text stream, optional
        Where to draw (default: ``sys.stderr`` at construction time).
    width : int, default=30
        Bar width in characters.
    min_interval : float, default=0.1
        Minimum seconds between redraws caused by :meth:`update`, so tight loops
        stay cheap.
    live : float or None, default=0.5
        When drawing, also redraw every ``live`` seconds from a background thread
        so the elapsed time moves while one long step runs; ``None`` for no thread.

    Examples
    --------
    >>> with Progress(3, desc="steps", quiet=True) as bar:
    ...     for _ in range(3):
    ...         bar.update()
    >>> bar.n
    3
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        desc: str = "",
        quiet: bool = False,
        stream: IO[str] | None = None,
        width: int = 30,
        min_interval: float = 0.1,
        live: float | None = 0.5,
    ) -> None:
        self.total = total
        self.desc = desc
        self.stream = sys.stderr if stream is None else stream
        self.enabled = is_enabled(self.stream, quiet=quiet)
        self.width = width
        self.min_interval = min_interval
        self.live = live
        self.n = 0
        self._start = time.monotonic()
        self._last_draw = -float("inf")
        self._closed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        total = "?" if self.total is None else self.total
        return f"Progress({self.desc!r}, {self.n}/{total})"

    def __enter__(self) -> Progress:
        self._draw(force=True)
        if self.enabled and self.live:
            self._thread = threading.Thread(
                target=self._tick, name="covid-risk-progress", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tick(self) -> None:
        while not self._stop.wait(self.live):
            self._draw(force=True)

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps and redraw if enough time has passed."""
        self.n += n
        self._draw()

    def _line(self) -> str:
        elapsed = _fmt_seconds(time.monotonic() - self._start)
        if self.total:
            frac = min(self.n / self.total, 1.0)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            return f"[{bar}] {self.n}/{self.total} {self.desc} {elapsed}"
        return f"{self.n:,} {self.desc} {elapsed}"

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            if not force and now - self._last_draw < self.min_interval:
                return
            self._last_draw = now
            self.stream.write("\r" + self._line() + "\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        """Stop redrawing, draw the final state and end the line (no-op when disabled)."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._draw(force=True)
        self._closed = True
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def track(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    quiet: bool = False,
    stream: IO[str] | None = None,
) -> Iterator[T]:
    """Yield from ``iterable`` while drawing a :class:`Progress` bar.

    Parameters
    ----------
    iterable : iterable
        The work items.
    total : int, optional
        Number of items (default: ``len(iterable)`` when it has one).
    desc, quiet, stream
        As for :class:`Progress`.

    Yields
    ------
    object
        The items of ``iterable`` unchanged.
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with Progress(total, desc=desc, quiet=quiet, stream=stream) as bar:
        for item in iterable:
            yield item
            bar.update()


@contextmanager
def stage(
    desc: str,
    *,
    quiet: bool = False,
    stream: IO[str] | None = None,
    interval: float = 0.25,
) -> Iterator[None]:
    """Show a spinner with the elapsed time while the block runs.

    For a single long call that reports no steps (generating a cohort, training).
    On a terminal the line ends as ``<desc> done in 4.2 s`` (or ``failed`` if the
    block raised); otherwise nothing is written.

    Parameters
    ----------
    desc : str
        What is being done, e.g. ``"training model"``.
    quiet : bool, default=False
        Draw nothing at all.
    stream : text stream, optional
        Where to draw (default: the current ``sys.stderr``).
    interval : float, default=0.25
        Seconds between spinner redraws.
    """
    stream = sys.stderr if stream is None else stream
    if not is_enabled(stream, quiet=quiet):
        yield
        return
    start = time.monotonic()
    stop = threading.Event()
    lock = threading.Lock()

    def spin() -> None:
        i = 0
        while not stop.is_set():
            with lock:
                elapsed = time.monotonic() - start
                stream.write(f"\r{_SPINNER[i % 4]} {desc} {elapsed:.0f}s\x1b[K")
                stream.flush()
            i += 1
            stop.wait(interval)

    thread = threading.Thread(target=spin, name="covid-risk-progress", daemon=True)
    thread.start()
    outcome = "failed"
    try:
        yield
        outcome = "done in " + _fmt_seconds(time.monotonic() - start)
    finally:
        stop.set()
        thread.join()
        with lock:
            stream.write(f"\r{desc} {outcome}\x1b[K\n")
            stream.flush()
