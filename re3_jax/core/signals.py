"""SIGINT and SIGTERM that are never lost: recorded when they arrive, checked at safe points.

Python runs a signal's handler in the main thread between two bytecodes, wherever that is:
inside JAX's garbage-collection callback (``_xla_gc_callback``) too, where the
`KeyboardInterrupt` the handler raises is printed as "Exception ignored" and dropped; the
command then went on, replaced its output and exited 0. So the handler (`install`) first
records the signal, then raises as before; `check` raises it again wherever it was recorded
and not yet raised through: before an output replaces an old one (`core.outputs.atomic_output`)
and when a command line's ``main`` returns (`re3_jax.cli.run`), which then ends with 130 or 143.
`deferred` holds both signals over a block that must not be cut in two (a frame's video frame
and its boxes, written together) and delivers them at its end.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator


class Terminated(KeyboardInterrupt):
  """SIGTERM, raised in the main thread wherever it is.

  A `KeyboardInterrupt`, so the program unwinds as for Ctrl-C: ``finally``
  blocks and context managers run (`re3_jax.core.outputs.atomic_output` deletes
  its temporary file).
  """


_received: list[int] = []  # signals recorded and not yet raised through `check` or a handler


def received() -> int | None:
  """The first signal recorded and not yet delivered (its number), or None."""
  return _received[0] if _received else None


def _exception(signum: int) -> KeyboardInterrupt:
  return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handle(signum, frame) -> None:
  del frame
  _received.append(signum)
  if signum == signal.SIGTERM:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
  raise _exception(signum)


def install() -> Callable[[], None]:
  """Handles SIGINT and SIGTERM as described above; returns a function restoring the
  previous handlers (and forgetting what was recorded)."""
  previous = {s: signal.signal(s, _handle) for s in (signal.SIGINT, signal.SIGTERM)}
  _received.clear()

  def restore():
    for s, handler in previous.items():
      signal.signal(s, handler)
    _received.clear()
  return restore


def delivered() -> None:
  """The recorded signal reached the command (its exception unwound to the top): forget it."""
  _received.clear()


def check() -> None:
  """Raises the recorded signal's exception (`Terminated` or `KeyboardInterrupt`) if one
  arrived and was swallowed; a safe point's check."""
  if _received:
    raise _exception(_received[0])


@contextlib.contextmanager
def deferred() -> Iterator[None]:
  """Holds SIGINT and SIGTERM while the block runs, then delivers each that arrived (to the
  handlers of before, as if it arrived at the block's end: it raises there).

  For a few quick steps that belong together. In a thread other than the main one it does
  nothing (Python runs signal handlers in the main thread only).
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  held: list[int] = []
  previous = {s: signal.signal(s, lambda signum, frame: held.append(signum))
              for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, signal.SIG_DFL if handler is None else handler)
    for signum in dict.fromkeys(held):
      signal.raise_signal(signum)
