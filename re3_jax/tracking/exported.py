"""Runs an exported Re3 tracker (`re3_jax.tracking.export`) with only JAX and NumPy.

This file imports nothing of re3_jax: copy it beside an artifact written by
``python -m re3_jax.export`` and run the tracker where re3_jax is not installed::

  import exported                                # this file
  tracker = exported.load('re3_nano.re3x')
  state = tracker.init(frame0, [[x1, y1, x2, y2]])  # (N, 4) boxes: N tracks
  boxes, state = tracker.step(state, frame1)        # (N, 4) float32 boxes
  boxes, state = tracker.step(state, frame2)

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
* ``params.bin``: the parameters' bytes, once for both functions.

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

import json
import os
import zipfile

import jax
from jax import export as jax_export
import numpy as np

FORMAT = 're3_jax.exported_tracker'
VERSION = 1
HEADER = 'header.json'
INIT = 'init.jax'
STEP = 'step.jax'
PARAMS = 'params.bin'


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


def read(path: str | os.PathLike) -> tuple[dict, bytes, bytes, list]:
  """(header, serialised init, serialised step, parameters as NumPy arrays) of an artifact.

  The parameters are in the dtypes the functions take (``argument_dtype``).

  Raises:
    ValueError: not an exported tracker, or one of another format version.
    OSError: the file cannot be read.
  """
  try:
    with zipfile.ZipFile(path) as z:
      names = set(z.namelist())
      missing = {HEADER, INIT, STEP, PARAMS} - names
      if missing:
        raise ValueError(f'{path} is not an exported re3_jax tracker: it lacks '
                         f'{", ".join(sorted(missing))}')
      header = json.loads(z.read(HEADER))
      if header.get('format') != FORMAT:
        raise ValueError(f'{path} is not an exported re3_jax tracker (format '
                         f'{header.get("format")!r})')
      if header.get('version') != VERSION:
        raise ValueError(f'{path} is an exported tracker of format version '
                         f'{header.get("version")}; this loader reads version {VERSION}')
      init, step, blob = z.read(INIT), z.read(STEP), z.read(PARAMS)
  except zipfile.BadZipFile as e:
    raise ValueError(f'{path} is not an exported re3_jax tracker: {e}') from e
  params = []
  for leaf in header['params']:
    dtype = np.dtype(getattr(jax.numpy, leaf['dtype']))  # bfloat16 through JAX's ml_dtypes
    count = int(np.prod(leaf['shape'], dtype=np.int64))
    array = np.frombuffer(blob, dtype, count, leaf['offset']).reshape(leaf['shape'])
    params.append(array.astype(getattr(jax.numpy, leaf['argument_dtype'])))
  return header, init, step, params


def load(path: str | os.PathLike) -> ExportedTracker:
  """The tracker in the artifact at `path`, its parameters on JAX's default device.

  On a platform the artifact was not exported for (``header['platforms']``), the first
  `init` raises JAX's error naming both.
  """
  header, init, step, params = read(path)
  return ExportedTracker(header, jax_export.deserialize(bytearray(init)),
                         jax_export.deserialize(bytearray(step)),
                         [jax.device_put(p) for p in params])
