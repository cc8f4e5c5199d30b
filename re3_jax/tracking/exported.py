"""Runs an exported Re3 tracker (`re3_jax.tracking.export`) with only JAX and NumPy.

This file imports nothing of re3_jax: copy it beside an artifact written by
``python -m re3_jax.export`` and run the tracker where re3_jax is not installed::

  import exported                                # this file
  tracker = exported.load('re3_nano.re3x')
  state = tracker.init(frame0, [[x1, y1, x2, y2]])  # (N, 4) boxes: N tracks
  boxes, state = tracker.step(state, frame1)        # (N, 4) float32 boxes
  boxes, state = tracker.step(state, frame2)
  scores = tracker.scores(state)                    # (N,) confidences of those boxes

The artifact is a zip file holding:

* ``header.json``: the format name and version, the model config, the crop
  size, the LSTM reset interval, the frame size (null: any) and the number of
  objects (null: any), the platforms exported for, the JAX version that wrote
  it, and the parameters' names, stored dtypes, shapes and offsets in
  ``params.bin``, and the dtypes the functions take them in (bfloat16 weights
  are widened to float32 when loaded, for float32 compute: the same values);
* ``init.jax`` and ``step.jax``: the tracker's `init` and `step` serialised
  with `jax.export` (StableHLO), taking the parameters as their first argument
  (a list of arrays, in the header's order);
* ``params.bin``: the parameters' bytes, once for both functions;
* ``SHA256SUMS``: the SHA-256 of the four members above (``sha256sum``'s format; version 2).

The loader treats the file as data: the header is checked against a schema (`check_header`:
required keys and types, dtypes from `DTYPES`, each parameter's bytes inside ``params.bin``,
overlapping no other and of its shape's size), every member against ``SHA256SUMS``, the
parameters to be finite, and both functions to take the header's parameters; each failure
is a ValueError naming the file and what is wrong.

JAX versions: the header records the JAX version that exported the file. `jax.export`
promises that a file is read by the JAX releases of the 6 months after the exporting one
(backward compatibility; older releases, only about a month, are not promised); the loader
warns, naming both versions, when they differ, and a file that does not deserialise is an
error naming them. `load` turns on JAX's persistent compilation cache (re3_jax's folder,
``~/.cache/re3_jax/xla``), so a later process reads the compiled functions from disk.

The state is a tuple of arrays (the library's `TrackState` flattened, its
leaves named in ``header['state']``; each has leading axis N), returned by
`init` and `step` and passed back to `step` unchanged. Frames must be uint8
RGB (H, W, 3) (the frame size of the export if it fixed one); boxes xyxy
pixels. The loader checks shapes, dtypes and that boxes are finite with
positive size, naming the problem; it does not repeat the library's other
checks (a box entirely outside the image is tracked as given). Each new frame
size or number of objects compiles the exported function once (as the
library's jitted `step` does).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile

import jax
from jax import export as jax_export
import numpy as np

FORMAT = 're3_jax.exported_tracker'
VERSION = 2  # 2: each parameter's byte size in the header, and SHA256SUMS
READS = (1, 2)  # version 1 (2026-12-01 to 12-06): no SHA256SUMS, sizes from the shapes
HEADER = 'header.json'
INIT = 'init.jax'
STEP = 'step.jax'
PARAMS = 'params.bin'
SUMS = 'SHA256SUMS'


class ExportedTracker:
  """The tracker of one artifact: `init` and `step` as plain functions of arrays.

  Attributes:
    header: the artifact's header (see the module docstring).
    params: the parameters (in the dtypes the functions take), on JAX's default device.
  """

  def __init__(self, header: dict, init_exported, step_exported, params: list):
    self.header = header
    self.params = params
    self._init_exported = init_exported
    self._step_exported = step_exported
    self._init = jax.jit(init_exported.call)
    self._step = jax.jit(step_exported.call)
    self._state_len = len(header['state'])

  def _frame(self, image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
      raise ValueError(f'image has dtype {image.dtype}; expected uint8 RGB (H, W, 3)')
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
      raise ValueError(f'image has shape {image.shape}; expected uint8 RGB (H, W, 3)')
    size = self.header['frame_size']
    if size is not None and tuple(image.shape[:2]) != tuple(size):
      raise ValueError(f'image is {image.shape[0]}x{image.shape[1]} but this tracker was '
                       f'exported for {size[0]}x{size[1]} frames')
    return image

  def init(self, image, boxes) -> tuple:
    """Starts N tracks at `boxes` ((N, 4) xyxy pixels, N >= 1) in `image`; returns the state."""
    image = self._frame(image)
    boxes = np.asarray(boxes, np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] < 1:
      raise ValueError(f'boxes must be (N, 4) xyxy with N >= 1, got shape {boxes.shape}')
    objects = self.header['objects']
    if objects is not None and boxes.shape[0] != objects:
      raise ValueError(f'{boxes.shape[0]} boxes but this tracker was exported for {objects}')
    for i, box in enumerate(boxes):
      if not (np.all(np.isfinite(box)) and box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f'boxes[{i}] = {box.tolist()} is not a finite xyxy box with '
                         'x1 < x2 and y1 < y2')
    return tuple(self._init(self.params, image, boxes))

  def step(self, state: tuple, image) -> tuple:
    """Tracks the state's N objects into `image`: returns ((N, 4) float32 boxes, new state)."""
    if not isinstance(state, (tuple, list)) or len(state) != self._state_len:
      raise ValueError(f'state must be the tuple of {self._state_len} arrays that init or step '
                       f'returned, got {type(state).__name__}')
    boxes, state = self._step(self.params, tuple(state), self._frame(image))
    return boxes, tuple(state)

  def scores(self, state: tuple) -> np.ndarray:
    """(N,) float32 confidences of the state's last boxes (the library's
    ``TrackState.score``: 1 at the start, lower when a box holds something other than the
    starting target); NaN where the model has no score or the file predates scores."""
    names = [s['name'] for s in self.header['state']]
    if not isinstance(state, (tuple, list)) or len(state) != self._state_len:
      raise ValueError(f'state must be the tuple of {self._state_len} arrays that init or step '
                       f'returned, got {type(state).__name__}')
    if 'score' not in names:
      return np.full((np.shape(state[0])[0],), np.nan, np.float32)
    return np.asarray(state[names.index('score')], np.float32)


def read(path: str | os.PathLike) -> tuple[dict, bytes, bytes, list]:
  """(header, serialised init, serialised step, parameters as NumPy arrays) of an artifact.

  The parameters are in the dtypes the functions take (``argument_dtype``). Everything in
  the file is data checked before use (`check_header`, then the members against
  ``SHA256SUMS``); every error names the file and what is wrong.

  Raises:
    ValueError: not an exported tracker, one of another format version, a header that
      does not follow the schema, a member that does not match its checksum.
    OSError: the file cannot be read.
  """
  try:
    with zipfile.ZipFile(path) as z:
      names = set(z.namelist())
      missing = {HEADER, INIT, STEP, PARAMS} - names
      if missing:
        raise ValueError(f'{path} is not an exported re3_jax tracker: it lacks '
                         f'{", ".join(sorted(missing))}')
      members = {name: z.read(name) for name in (HEADER, INIT, STEP, PARAMS, SUMS)
                 if name in names}
  except zipfile.BadZipFile as e:  # also a member whose CRC-32 does not match
    raise ValueError(f'{path} is not an exported re3_jax tracker: {e}') from e
  try:
    header = json.loads(members[HEADER])
  except (UnicodeDecodeError, ValueError) as e:
    raise ValueError(f'{path}: {HEADER} is not JSON: {e}') from None
  if not isinstance(header, dict):
    raise ValueError(f'{path}: {HEADER} must be a JSON object, got {type(header).__name__}')
  if header.get('format') != FORMAT:
    raise ValueError(f'{path} is not an exported re3_jax tracker (format '
                     f'{header.get("format")!r})')
  if header.get('version') not in READS:
    raise ValueError(f'{path} is an exported tracker of format version '
                     f'{header.get("version")!r}; this loader reads versions '
                     f'{", ".join(map(str, READS))}')
  blob = members[PARAMS]
  check_header(header, len(blob), path)
  if header['version'] >= 2:
    _check_sums(members, path)
  params = []
  for leaf in header['params']:
    dtype = np.dtype(getattr(jax.numpy, leaf['dtype']))  # bfloat16 through JAX's ml_dtypes
    count = int(np.prod(leaf['shape'], dtype=np.int64))
    array = np.frombuffer(blob, dtype, count, leaf['offset']).reshape(leaf['shape'])
    if not np.isfinite(array.astype(np.float32)).all():
      raise ValueError(f'{path}: parameter {leaf["name"]} is not finite')
    params.append(array.astype(getattr(jax.numpy, leaf['argument_dtype'])))
  return header, members[INIT], members[STEP], params


# The header's schema: key -> (types allowed, what it must be).
_SCHEMA = {
    'format': ((str,), 'a string'), 'version': ((int,), 'an integer'),
    'model_config': ((dict,), 'an object'), 'crop_size': ((int,), 'an integer'),
    'reset_interval': ((int,), 'an integer'), 'frame_size': ((list, type(None)), 'null or [H, W]'),
    'objects': ((int, type(None)), 'null or an integer'), 'platforms': ((list,), 'a list'),
    'jax_version': ((str,), 'a string'), 'params': ((list,), 'a list'),
    'state': ((list,), 'a list'),
}
_LEAF_SCHEMA = {'name': (str,), 'dtype': (str,), 'shape': (list,), 'offset': (int,),
                'argument_dtype': (str,)}
DTYPES = ('float32', 'bfloat16', 'float16')  # what an export stores its parameters in


def _is_int(x) -> bool:
  return isinstance(x, int) and not isinstance(x, bool)


def check_header(header: dict, params_size: int, path: str | os.PathLike = 'the file') -> None:
  """Checks `header` against the schema and ``params.bin``'s `params_size` bytes.

  Required keys with their types; positive crop size, reset interval, frame size and number
  of objects; each parameter's dtype and argument dtype from `DTYPES` (the argument dtype the
  stored one, or float32), its shape of non-negative integers, its bytes (``size``, or
  shape x itemsize for version 1) consistent with its shape and dtype, within
  ``params.bin`` and overlapping no other parameter's.

  Raises:
    ValueError: naming `path` and the key, parameter or value at fault.
  """
  def bad(what):
    return ValueError(f'{path}: {HEADER}: {what}')
  for key, (types, text) in _SCHEMA.items():
    if key not in header:
      raise bad(f'the key {key!r} is missing')
    value = header[key]
    if not isinstance(value, types) or isinstance(value, bool):
      raise bad(f'{key} must be {text}, got {value!r:.80}')
  for key in ('crop_size', 'reset_interval', 'objects'):
    if header[key] is not None and header[key] < 1:
      raise bad(f'{key} must be >= 1, got {header[key]}')
  size = header['frame_size']
  if size is not None and (len(size) != 2 or not all(_is_int(s) and s >= 1 for s in size)):
    raise bad(f'frame_size must be null or [H, W] with H, W >= 1, got {size!r:.80}')
  spans = []
  for i, leaf in enumerate(header['params']):
    if not isinstance(leaf, dict):
      raise bad(f'params[{i}] must be an object, got {leaf!r:.80}')
    name = leaf.get('name', f'params[{i}]')
    for key, types in _LEAF_SCHEMA.items():
      if not isinstance(leaf.get(key), types) or isinstance(leaf.get(key), bool):
        raise bad(f'parameter {name}: {key} must be a {types[0].__name__}, got '
                  f'{leaf.get(key)!r:.80}')
    if leaf['dtype'] not in DTYPES:
      raise bad(f'parameter {name}: dtype {leaf["dtype"]!r} is not one of {", ".join(DTYPES)}')
    if leaf['argument_dtype'] not in (leaf['dtype'], 'float32'):
      raise bad(f'parameter {name}: argument_dtype {leaf["argument_dtype"]!r} is neither its '
                f'dtype {leaf["dtype"]} nor float32')
    shape = leaf['shape']
    if not all(_is_int(d) and d >= 0 for d in shape):
      raise bad(f'parameter {name}: shape {shape!r:.80} is not a list of integers >= 0')
    itemsize = np.dtype(getattr(jax.numpy, leaf['dtype'])).itemsize
    nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize
    declared = leaf.get('size', nbytes if header['version'] == 1 else None)
    if not _is_int(declared) or declared != nbytes:
      raise bad(f'parameter {name}: size {declared!r} bytes does not match its shape {shape} '
                f'of {leaf["dtype"]} ({nbytes} bytes)')
    offset = leaf['offset']
    if offset < 0 or offset + nbytes > params_size:
      raise bad(f'parameter {name}: bytes {offset}..{offset + nbytes} lie outside {PARAMS} '
                f'({params_size} bytes)')
    spans.append((offset, offset + nbytes, name))
  spans.sort()
  for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
    if start < end:
      raise bad(f'parameters {first} and {second} overlap in {PARAMS} (offsets)')


def _check_sums(members: dict, path) -> None:
  """Checks every member against the file's ``SHA256SUMS`` (``sha256sum``'s format: the
  manifest re3_jax writes beside checkpoints, `re3_jax.core.digests`; parsed here again
  because this file imports nothing of re3_jax)."""
  if SUMS not in members:
    raise ValueError(f'{path}: the checksum manifest {SUMS} is missing')
  try:
    lines = members[SUMS].decode('utf-8').splitlines()
    sums = dict(reversed(line.split('  ', 1)) for line in lines)
  except (UnicodeDecodeError, ValueError):
    raise ValueError(f'{path}: {SUMS} is not "SHA-256  NAME" lines') from None
  for name in (HEADER, INIT, STEP, PARAMS):
    expected = sums.get(name)
    found = hashlib.sha256(members[name]).hexdigest()
    if expected != found:
      raise ValueError(f'{path}: {name} does not match its checksum: SHA-256 {found}, '
                       f'{SUMS} expects {expected} (the file is damaged or was changed)')


def sums_text(members: dict) -> str:
  """The ``SHA256SUMS`` member for `members` ({name: bytes})."""
  return ''.join(f'{hashlib.sha256(data).hexdigest()}  {name}\n'
                 for name, data in members.items())


def _enable_compilation_cache() -> str | None:
  """JAX's persistent compilation cache, as re3_jax turns it on (its
  ``re3_jax.core.compilation_cache.enable`` when installed; otherwise the same rule: a
  folder JAX already has, else ``$RE3_JAX_COMPILATION_CACHE`` (``off``: none), else
  ``$XDG_CACHE_HOME/re3_jax/xla``)."""
  try:
    from re3_jax.core import compilation_cache  # pylint: disable=g-import-not-at-top
  except ImportError:
    pass
  else:
    return compilation_cache.enable()
  if jax.config.jax_compilation_cache_dir:
    return jax.config.jax_compilation_cache_dir
  setting = os.environ.get('RE3_JAX_COMPILATION_CACHE') or os.path.join(
      os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 're3_jax', 'xla')
  if setting.strip().lower() == 'off':
    return None
  folder = os.path.abspath(os.path.expanduser(setting))
  jax.config.update('jax_compilation_cache_dir', folder)
  if 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS' not in os.environ:
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  return folder


def _deserialize(data: bytes, name: str, header: dict, path):
  try:
    return jax_export.deserialize(bytearray(data))
  except Exception as e:  # pylint: disable=broad-except  (flatbuffers fail in many ways)
    raise ValueError(f'{path}: {name} does not deserialise with JAX {jax.__version__} (the '
                     f'file was exported by JAX {header["jax_version"]}): '
                     f'{type(e).__name__}: {str(e)[:200]}') from e


def _check_signature(exp, header: dict, name: str, path) -> None:
  """The exported function takes the header's parameters (shapes, argument dtypes) first."""
  leaves = header['params']
  avals = exp.in_avals
  if len(avals) < len(leaves):
    raise ValueError(f'{path}: {name} takes {len(avals)} arrays, fewer than the header\'s '
                     f'{len(leaves)} parameters')
  for leaf, aval in zip(leaves, avals):
    if (tuple(aval.shape) != tuple(leaf['shape'])
        or str(aval.dtype) != leaf['argument_dtype']):
      raise ValueError(f'{path}: parameter {leaf["name"]} is {leaf["argument_dtype"]} '
                       f'{tuple(leaf["shape"])} in {HEADER} but {name} takes {aval.dtype} '
                       f'{tuple(aval.shape)}')


def load(path: str | os.PathLike, compilation_cache: bool = True) -> ExportedTracker:
  """The tracker in the artifact at `path`, its parameters on JAX's default device.

  Checks the file (`read`) and that both functions take the header's parameters. A file
  exported by another JAX version than this one is said in a warning naming both (see the
  module docstring for the versions that read a file). With `compilation_cache`, JAX's
  persistent compilation cache is on (re3_jax's folder), so a later process reads the
  compiled functions from disk instead of compiling them.

  On a platform the artifact was not exported for (``header['platforms']``), the first
  `init` raises JAX's error naming both.
  """
  header, init, step, params = read(path)
  if header['jax_version'] != jax.__version__:
    warnings.warn(f'{path} was exported by JAX {header["jax_version"]} and is read by JAX '
                  f'{jax.__version__}: jax.export promises that JAX releases of the 6 months '
                  'after the exporting one read a file, not older ones', stacklevel=2)
  if compilation_cache:
    _enable_compilation_cache()
  init_exp = _deserialize(init, INIT, header, path)
  step_exp = _deserialize(step, STEP, header, path)
  _check_signature(init_exp, header, INIT, path)
  _check_signature(step_exp, header, STEP, path)
  return ExportedTracker(header, init_exp, step_exp, [jax.device_put(p) for p in params])
