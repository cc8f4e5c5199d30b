"""Progress reporting shared by the command lines: rates, time left, a status line.

`rate` and `eta_text` are the arithmetic every progress line does (units per second,
minutes left); `StatusLine` writes a line that changes often (tracking's frame counter)
to a terminal in place, or line by line to a file or pipe, at most every `interval`
seconds.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def rate(count: float, seconds: float) -> float | None:
  """`count` / `seconds`, or None when either is zero (nothing measured yet)."""
  return count / seconds if count and seconds > 0 else None


def eta_text(units_left: float | None, units_per_s: float | None) -> str:
  """The time left as ``'12.3 min'``, or ``'?'`` when the work left or the rate is unknown."""
  if units_left is None or not units_per_s or units_per_s <= 0:
    return '?'
  return f'{units_left / units_per_s / 60:.1f} min'


class StatusLine:
  """Writes status text on one line: every `interval` seconds, and whenever `final`.

  On a terminal each update overwrites the last (``\\r``, erase to the end of the
  line) and `finish` ends the line; elsewhere (a file, a pipe, a test's capture)
  each written update is a line of its own, at most every `file_interval` seconds
  (default `interval`; a long run's log wants a modest rate).
  """

  def __init__(self, stream: TextIO | None = None, interval: float = 0.5,
               file_interval: float | None = None):
    self.stream = sys.stderr if stream is None else stream
    self.interval = interval
    self.file_interval = interval if file_interval is None else file_interval
    self.text = ''
    self._last = None
    self._shown = False  # a terminal's line holds a status

  def update(self, text: str, final: bool = False) -> None:
    """Keeps `text` as the status; writes it if its interval has passed or `final`."""
    self.text = text
    now = time.monotonic()
    tty = self.stream.isatty()
    every = self.interval if tty else self.file_interval
    if final or self._last is None or now - self._last >= every:
      self._last = now
      self.stream.write('\r' + text + '\033[K' if tty else text + '\n')
      self.stream.flush()
      self._shown = tty

  def clear(self) -> None:
    """Erases the status from a terminal's line (before other output takes it)."""
    if self._shown:
      self.stream.write('\r\033[K')
      self.stream.flush()
      self._shown = False

  def finish(self) -> None:
    """Ends the status line on a terminal (so what follows starts on a new line)."""
    if self._shown:
      self.stream.write('\n')
      self.stream.flush()
      self._shown = False
