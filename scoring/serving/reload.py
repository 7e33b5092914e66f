"""A file the scorer re-reads when it changes on disk (rules, model), without a restart."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("fraudstream.scoring.reload")


class WatchedFile(Generic[T]):
    """The parsed content of `path`, re-parsed when its mtime/size/inode change.

    `current()` stats the file at most once per `check_interval_s`, so calling it on every request
    costs a clock read. A file that fails to parse, or disappears, keeps the previous value; the
    error is logged once and kept in `error`.
    """

    def __init__(
        self,
        path: Path,
        parse: Callable[[Path], T],
        *,
        check_interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        what: str = "file",
    ) -> None:
        self.path = path
        self._parse = parse
        self._interval = check_interval_s
        self._monotonic = monotonic
        self._what = what
        self._next_check = float("-inf")
        self._signature: tuple[int, int, int] | None = None
        self.value: T | None = None
        self.error: str | None = None
        self.reloads = 0

    def current(self) -> T | None:
        now = self._monotonic()
        if now >= self._next_check:
            self._next_check = now + self._interval
            self.check()
        return self.value

    def check(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._fail(f"{self._what} {self.path} is not readable ({exc.strerror})", None)
            return
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature == self._signature:
            return
        try:
            value = self._parse(self.path)
        except Exception as exc:
            self._fail(f"{self._what} {self.path} is invalid, keeping the previous one: {exc}", signature)
            return
        self.value, self.error, self._signature = value, None, signature
        self.reloads += 1
        log.info("loaded %s", self._what, extra={"path": str(self.path), "reloads": self.reloads})

    def _fail(self, message: str, signature: tuple[int, int, int] | None) -> None:
        # Remember the broken signature so the same bad file is parsed and logged once, not per second.
        if signature is not None:
            self._signature = signature
        if message != self.error:
            log.error(message)
        self.error = message
