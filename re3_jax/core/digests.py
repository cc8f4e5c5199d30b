"""File digests: the one SHA-256 of a file that every check of a published file uses, and the
checksum manifests written beside saved checkpoints.

A manifest is a ``SHA256SUMS`` file in the folder it covers, in ``sha256sum``'s format (one
``HEX  RELATIVE/PATH`` line per file, so ``sha256sum -c SHA256SUMS`` checks it too). It is
read as data: a line that is not a 64-digit hex digest, two spaces and a relative path inside
the folder is a `ManifestError` naming the manifest and the line.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
from typing import Iterable

MANIFEST = 'SHA256SUMS'
_LINE = re.compile(r'([0-9a-f]{64})  (\S(?:.*\S)?)')


class ManifestError(ValueError):
  """A file does not match its checksum manifest, or the manifest does not parse; the
  message names the file and, for a mismatch, the expected and the found digest."""


def sha256(path: str | os.PathLike) -> str:
  """The hex SHA-256 of the file at `path`, read in 1 MiB blocks."""
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      h.update(chunk)
  return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
  """The hex SHA-256 of `data` (the digest `sha256` gives for a file holding `data`)."""
  return hashlib.sha256(data).hexdigest()


def files_under(directory: str | os.PathLike) -> list[pathlib.Path]:
  """Every regular file under `directory` but a manifest, as paths relative to it, sorted."""
  directory = pathlib.Path(directory)
  return sorted(p.relative_to(directory) for p in directory.rglob('*')
                if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: str | os.PathLike,
                   files: Iterable[str | os.PathLike] | None = None) -> pathlib.Path:
  """Writes ``directory/SHA256SUMS`` for `files` (relative to `directory`; default: every
  file under it). Written to a temporary name and renamed: whole or not at all.

  Returns:
    The manifest's path.
  """
  directory = pathlib.Path(directory)
  names = files_under(directory) if files is None else sorted(map(pathlib.Path, files))
  text = ''.join(f'{sha256(directory / name)}  {name.as_posix()}\n' for name in names)
  path = directory / MANIFEST
  tmp = directory / f'.{MANIFEST}.tmp.{os.getpid()}'
  try:
    tmp.write_text(text)
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)
  return path


def read_manifest(path: str | os.PathLike) -> dict[str, str]:
  """{relative path: hex digest} of the manifest at `path`.

  Raises:
    ManifestError: a line that does not parse, a path that leaves the folder (absolute or
      with ``..``), or a path listed twice; named with the line number.
  """
  path = pathlib.Path(path)
  try:
    text = path.read_bytes().decode('utf-8')
  except UnicodeDecodeError as e:
    raise ManifestError(f'checksum manifest {path} is not UTF-8 text: {e}') from None
  entries: dict[str, str] = {}
  for n, line in enumerate(text.splitlines(), 1):
    match = _LINE.fullmatch(line)
    name = match[2] if match else ''
    if not match or name.startswith('/') or '..' in pathlib.PurePosixPath(name).parts:
      raise ManifestError(f'checksum manifest {path}, line {n}: {line[:120]!r} is not '
                          '"SHA-256  RELATIVE/PATH" of a file in its folder')
    if name in entries:
      raise ManifestError(f'checksum manifest {path}, line {n}: {name} is listed twice')
    entries[name] = match[1]
  return entries


def verify_manifest(directory: str | os.PathLike) -> bool:
  """Checks every file listed in ``directory/SHA256SUMS`` against its digest.

  Returns:
    False if `directory` has no manifest (a checkpoint saved before manifests: nothing to
    check), True if every listed file matches.

  Raises:
    ManifestError: a listed file that is missing or whose SHA-256 differs (the message
      names the file, the expected and the found digest), or a manifest that does not parse.
  """
  directory = pathlib.Path(directory)
  path = directory / MANIFEST
  if not path.is_file():
    return False
  for name, expected in read_manifest(path).items():
    file = directory / name
    if not file.is_file():
      raise ManifestError(f'{file} is missing (listed in the checksum manifest {path})')
    found = sha256(file)
    if found != expected:
      raise ManifestError(f'{file} does not match its checksum: SHA-256 {found}, the manifest '
                          f'{path} expects {expected} (the file is damaged or was changed)')
  return True
