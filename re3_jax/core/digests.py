"""File digests: the one SHA-256 of a file that every check of a published file uses."""

from __future__ import annotations

import hashlib
import os


def sha256(path: str | os.PathLike) -> str:
  """The hex SHA-256 of the file at `path`, read in 1 MiB blocks."""
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      h.update(chunk)
  return h.hexdigest()
