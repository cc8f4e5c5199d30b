"""Files written whole or not at all: `atomic_output`.

`atomic_output` gives a hidden temporary name beside an output file (a video, a boxes file,
``results.json``, an exported model) and moves it into place only when the work succeeded; on
an error or Ctrl-C the temporary file is deleted, so a file at the output's name is always
complete (the command lines turn SIGTERM into the same unwinding: `re3_jax.cli.run`).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
from typing import Iterator

from re3_jax.core import signals


class OutputError(ValueError):
  """An output that cannot be written or was not; the message names the file."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[pathlib.Path]:
  """Yields a temporary path beside `path`, moved to `path` if the block succeeds.

  The temporary name is hidden and keeps the extension (OpenCV picks the
  container by it): ``.NAME.partial-XXXXXXXX.EXT``. If the block raises
  (Ctrl-C included), or a SIGINT/SIGTERM arrived and was swallowed on the way
  (`core.signals.check`), the temporary file is deleted and an existing file at
  `path` is left as it was.
  """
  path = pathlib.Path(path)
  if not path.parent.is_dir():
    raise OutputError(f'cannot write {path}: folder {path.parent} does not exist')
  tmp = path.with_name(f'.{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}')
  try:
    yield tmp
  except BaseException:
    tmp.unlink(missing_ok=True)
    raise
  if not tmp.exists():
    raise OutputError(f'{path} was not written')
  try:
    signals.check()  # a SIGINT/SIGTERM swallowed while writing: the old file stays
  except BaseException:
    tmp.unlink(missing_ok=True)
    raise
  os.replace(tmp, path)
