"""Reads ``torch.save`` files without torch: tensors come back as NumPy arrays.

The format (torch 1.6 and later) is a zip archive whose entries share one
top-level folder (``ARCHIVE/``): ``data.pkl``, a pickle of the saved object in
which each tensor is a call ``torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, ...)`` and each storage a persistent id ``('storage',
torch.FloatStorage, key, location, numel)``; ``data/KEY``, each storage's raw
bytes; ``byteorder`` (``little`` or ``big``; absent in old files: little) and
``version``. Tensors sharing a storage are views of it (a transposed tensor has
swapped strides, a slice an offset).

``data.pkl`` is read by a restricted unpickler: the only globals it resolves
are the few a state_dict needs (`ALLOWED_GLOBALS`); any other is refused with
an error naming the file and the global, so reading a file never runs code from
it. torch's legacy (pre-1.6) format is not read: the error says how to re-save
the file.

What a file can make the reader allocate is bounded, whatever it declares: ``data.pkl`` is
read up to `MAX_PICKLE_BYTES`; each storage must hold exactly the bytes its declared
elements and dtype take (a ``HalfStorage`` over float32 bytes is an error, not garbage
weights), read no further than that (a deflate bomb stops there); a tensor is a view that
never repeats an element of its storage (stride 0 or overlapping strides, which would expand
a few bytes into gigabytes when copied, are refused), so it is no larger than its storage;
and storages and tensors together stay under `MAX_BYTES`. Each is a ValueError naming the
file and the entry.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import sys
import zipfile
from typing import Any, Mapping

import ml_dtypes
import numpy as np

# torch's typed storage classes (as ``torch.save`` names them) -> NumPy dtypes.
STORAGE_DTYPES = {
    'DoubleStorage': np.dtype(np.float64), 'FloatStorage': np.dtype(np.float32),
    'HalfStorage': np.dtype(np.float16), 'BFloat16Storage': np.dtype(ml_dtypes.bfloat16),
    'LongStorage': np.dtype(np.int64), 'IntStorage': np.dtype(np.int32),
    'ShortStorage': np.dtype(np.int16), 'CharStorage': np.dtype(np.int8),
    'ByteStorage': np.dtype(np.uint8), 'BoolStorage': np.dtype(np.bool_),
}

_REBUILDERS = ('_rebuild_tensor_v2', '_rebuild_parameter', '_rebuild_parameter_with_state')
ALLOWED_GLOBALS = frozenset(
    [('collections', 'OrderedDict')] + [('torch._utils', name) for name in _REBUILDERS]
    + [('torch', name) for name in STORAGE_DTYPES])

# The largest model a .pt file holds is the paper model: 190,004,324 parameters, 0.76 GB as
# float32 (`PAPER_PARAMS`, checked against `model.count_params` by the tests). The reader
# holds each storage and the tensor copied out of it: 1.52 GB for that model; `MAX_BYTES`
# (2 GiB) leaves ~40% above it, and refuses a file that would need more before allocating.
PAPER_PARAMS = 190_004_324
MAX_BYTES = 2 << 30
# data.pkl holds names and small tuples (~30 KB for the paper model's 30 tensors): 64 MiB is
# 2000x that, and bounds a pickle inflated by a deflate bomb.
MAX_PICKLE_BYTES = 64 << 20

# The first bytes of the legacy format: pickle protocol 2, then its magic number as a long.
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'


class _NamedError(ValueError):
  """A ValueError that already names the file (others raised while reading get wrapped)."""


class _StorageType:
  """What the unpickler returns for ``torch.FloatStorage`` and its kin."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = STORAGE_DTYPES[name]


class _Unpickler(pickle.Unpickler):
  """Resolves only `ALLOWED_GLOBALS`; storages are read from the archive as NumPy arrays."""

  def __init__(self, file, path: str, archive: zipfile.ZipFile, prefix: str, byteorder: str):
    super().__init__(file)
    self._path = path
    self._archive = archive
    self._prefix = prefix
    self._byteorder = byteorder
    self._storages: dict[str, np.ndarray] = {}
    self._allocated = 0  # bytes of storages and tensors so far (`MAX_BYTES`)

  def _allocate(self, nbytes: int, what: str) -> None:
    self._allocated += nbytes
    if self._allocated > MAX_BYTES:
      raise _NamedError(f'{self._path}: {what} would take the bytes read past {MAX_BYTES} '
                        f'({self._allocated}), more than the largest Re3 model needs; refused')

  def find_class(self, module: str, name: str):
    if module == 'torch' and name.endswith('Storage') and name not in STORAGE_DTYPES:
      raise _NamedError(f'{self._path}: data.pkl has a storage of type torch.{name}, which is '
                       f'not read (known: {", ".join(STORAGE_DTYPES)})')
    if (module, name) not in ALLOWED_GLOBALS:
      raise _NamedError(f'{self._path}: data.pkl references the global {module}.{name}, which a '
                       'state_dict does not need; refused (unpickling it could run code). '
                       'Save a state_dict of tensors only.')
    if module == 'collections':
      return collections.OrderedDict
    if module == 'torch':
      return _StorageType(name)
    if name == '_rebuild_tensor_v2':
      return self._rebuild_tensor
    return lambda data, *unused_args: data  # a Parameter: its tensor

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == 'storage'
            and isinstance(pid[1], _StorageType)):
      raise _NamedError(f'{self._path}: data.pkl has a persistent id that is not a typed '
                       f'storage: {pid!r:.200}')
    storage_type, key, numel = pid[1], str(pid[2]), pid[4]
    if not isinstance(numel, int) or numel < 0:
      raise _NamedError(f'{self._path}: data.pkl gives storage {key} {numel!r:.50} elements')
    if key not in self._storages:
      entry = f'{self._prefix}data/{key}'
      try:
        raw = self._archive.read(entry)
      except KeyError:
        raise _NamedError(f'{self._path}: storage {entry} is missing from the archive') from None
      dtype = storage_type.dtype
      needed = int(numel) * dtype.itemsize
      self._allocate(needed, f'storage {entry} ({numel} {storage_type.name} elements)')
      with self._archive.open(entry) as f:
        raw = f.read(needed + 1)  # no further: a deflate bomb stops here
      if len(raw) != needed:
        size = self._archive.getinfo(entry).file_size
        what = ('truncated' if len(raw) < needed
                else 'the bytes of another dtype, or a damaged file')
        raise _NamedError(f'{self._path}: storage {entry} holds {size} bytes but its '
                          f'{numel} {storage_type.name} elements need {needed} ({what})')
      storage = np.frombuffer(raw, dtype, count=int(numel))
      if self._byteorder != sys.byteorder and dtype.itemsize > 1:
        storage = storage.view(f'u{dtype.itemsize}').byteswap().view(dtype)
      self._storages[key] = storage
    return self._storages[key]

  def _rebuild_tensor(self, storage, offset, size, stride, *unused_args) -> np.ndarray:
    """``_rebuild_tensor_v2``: the view (size, stride, offset in elements) of `storage`, copied."""
    size, stride, offset = tuple(size), tuple(stride), int(offset)
    if not isinstance(storage, np.ndarray) or len(size) != len(stride):
      raise _NamedError(f'{self._path}: a tensor in data.pkl has storage {type(storage).__name__}, '
                       f'size {size} and stride {stride}')
    if any(d == 0 for d in size) and min(size, default=0) >= 0:
      return np.zeros(size, storage.dtype)
    last = offset + sum((d - 1) * s for d, s in zip(size, stride))
    if offset < 0 or min(size + stride, default=0) < 0 or last >= storage.size:
      raise _NamedError(f'{self._path}: a tensor of size {size}, stride {stride} at offset '
                       f'{offset} reaches past its storage of {storage.size} elements')
    _check_no_repeats(size, stride, self._path)
    self._allocate(int(np.prod(size, dtype=np.int64)) * storage.itemsize,
                   f'a tensor of size {size}')
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], size, [s * storage.itemsize for s in stride], writeable=False)
    return np.array(view, order='C', copy=True)


def _check_no_repeats(size: tuple, stride: tuple, path: str) -> None:
  """Refuses a view that reads an element of its storage twice (stride 0 on an axis longer
  than 1, or strides whose spans overlap): copied, it would expand its storage."""
  extent = 0  # the span, in elements, of the axes checked so far, minus one
  for s, d in sorted((s, d) for d, s in zip(size, stride) if d > 1):
    if s <= extent:
      raise _NamedError(f'{path}: a tensor of size {size}, stride {stride} repeats elements '
                        'of its storage (a stride of 0 or overlapping strides); a state_dict '
                        'holds none: refused')
    extent += (d - 1) * s


def _archive_prefix(archive: zipfile.ZipFile, path: str) -> str:
  """The top-level folder holding ``data.pkl`` (``ARCHIVE/``)."""
  pickles = [n for n in archive.namelist() if n.endswith('data.pkl') and n.count('/') == 1]
  if len(pickles) != 1:
    raise ValueError(f'{path} is not a PyTorch state_dict file: the zip archive has '
                     f'{len(pickles)} ARCHIVE/data.pkl entries, not 1 (entries: '
                     f'{archive.namelist()[:10]})')
  return pickles[0][:-len('data.pkl')]


def _not_a_zip(path: str) -> ValueError:
  with open(path, 'rb') as f:
    head = f.read(len(_LEGACY_MAGIC))
  if head == _LEGACY_MAGIC:
    return ValueError(
        f'{path} is in torch\'s legacy (pre-1.6) format, which re3_jax does not read; re-save it '
        'with torch 1.6 or later: torch.save(torch.load(OLD, map_location="cpu"), NEW)')
  if head.startswith(b'PK'):
    return ValueError(f'{path} is not a PyTorch state_dict file: a truncated or corrupt zip '
                      'archive')
  return ValueError(f'{path} is not a PyTorch state_dict file (not a zip archive, as '
                    'torch.save writes)')


def load(path: str | os.PathLike) -> Any:
  """Reads a ``torch.save`` file; its tensors as NumPy arrays (float32, bfloat16, int64, ...).

  Args:
    path: the ``.pt``/``.pth`` file.

  Returns:
    The saved object (for a state_dict, an OrderedDict of name -> array).

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file is not a ``torch.save`` zip archive, is truncated or
      corrupt, is in the legacy format, or references a global that is not
      allowed (each named with the file).
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'no PyTorch file at {path}')
  try:
    archive = zipfile.ZipFile(path)
  except zipfile.BadZipFile:
    raise _not_a_zip(path) from None
  with archive:
    prefix = _archive_prefix(archive, path)
    try:
      byteorder = archive.read(prefix + 'byteorder').decode('ascii', 'replace').strip()
    except KeyError:
      byteorder = 'little'
    if byteorder not in ('little', 'big'):
      raise ValueError(f'{path}: {prefix}byteorder says {byteorder[:20]!r}, not little or big')
    try:
      with archive.open(prefix + 'data.pkl') as f:
        pkl = f.read(MAX_PICKLE_BYTES + 1)
      if len(pkl) > MAX_PICKLE_BYTES:
        raise _NamedError(f'{path}: {prefix}data.pkl is larger than {MAX_PICKLE_BYTES} bytes '
                          'unpacked, far more than a state_dict\'s; refused')
      return _Unpickler(io.BytesIO(pkl), path, archive, prefix, byteorder).load()
    except _NamedError:
      raise
    except Exception as e:  # pickle and zip raise many types (EOF, CRC, index) for bad bytes.
      raise ValueError(f'{path}: {prefix}data.pkl or a storage is corrupt: '
                       f'{type(e).__name__}: {e}') from e


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """`load`, checked to be a state_dict: a mapping of names to arrays.

  Raises:
    FileNotFoundError, ValueError: as `load`, and a ValueError when the file
      holds something else (named, with its type).
  """
  state = load(path)
  if not isinstance(state, Mapping):
    raise ValueError(f'{os.fspath(path)} holds a {type(state).__name__}, not a state_dict '
                     '(a mapping of names to tensors)')
  bad = [k for k, v in state.items() if not (isinstance(k, str) and isinstance(v, np.ndarray))]
  if bad:
    raise ValueError(f'{os.fspath(path)} holds a mapping but not a state_dict: {bad[0]!r} is '
                     f'a {type(state[bad[0]]).__name__}, not a tensor')
  return dict(state)
