"""A command line stopped by a signal once it is under way: what the tests of `track`'s
Ctrl-C and SIGTERM behaviour share."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Callable


def signal_when(command: list[str], ready: Callable[[], bool], signum: int, *, what: str,
                timeout: float = 120, **popen) -> tuple[int, str, str]:
  """Runs `command`, sends `signum` once `ready()` holds, and returns its status, stdout and
  stderr. Fails the test, naming `what` it waited for, when the command ends first or
  `ready()` does not hold within `timeout` seconds.

  The child gets SIGINT's default action, as a terminal's Ctrl-C finds it: a pytest-xdist
  worker ignores SIGINT, and a child started with SIGINT ignored keeps ignoring it (Python
  installs no handler then).
  """
  proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                          **popen)
  try:
    deadline = time.monotonic() + timeout
    while not ready():
      assert proc.poll() is None, proc.communicate()
      assert time.monotonic() < deadline, f'no {what} after {timeout:g} s'
      time.sleep(0.01)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.communicate()
  return proc.returncode, stdout, stderr
