"""The TFDS sources of the pipeline: built datasets, random access, frames fitted to the canvas.

`TfdsSource` reads one split of a dataset built by the builders (``imagenet_vid``,
``alov300``: tracks of ``frames``; ``imagenet_det``: ``image`` s with boxes), its
images kept encoded; `decode_fitted` decodes a JPEG straight to the size that
fits the canvas (OpenCV decodes at 1/2, 1/4 or 1/8 size when that is enough);
`visible_window` picks the frames of a track in which the object is visible.
TensorFlow Datasets is imported only when a source is opened.
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import cv2
import numpy as np

TRACK, IMAGE = 'track', 'image'  # `TfdsSource.kind`
_BUILD = 'python -m re3_jax.input.builders.build'  # the command that builds a TFDS source
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
            (2, cv2.IMREAD_REDUCED_COLOR_2), (1, cv2.IMREAD_COLOR))


def _tfds():
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError('reading a TFDS source needs tensorflow-datasets: pip install '
                      '"re3_jax[data]" (or pip install tensorflow-datasets array_record)') from e
  return tfds


def dataset_dir(name: str, data_dir: str | None) -> pathlib.Path:
  """The folder of a built TFDS dataset: ``data_dir/name/<highest version>``.

  ``name`` may also be the path of such a folder.
  """
  direct = pathlib.Path(name)
  if (direct / 'dataset_info.json').is_file():
    return direct
  if data_dir is None:
    raise FileNotFoundError(
        f'source {name!r}: no data_dir given; build it with `{_BUILD} {name} '
        '--manual_dir=... --data_dir=DIR` and pass DIR')
  root = pathlib.Path(data_dir).expanduser() / name
  versions = sorted((p for p in root.glob('*') if (p / 'dataset_info.json').is_file()),
                    key=lambda p: tuple(int(x) for x in p.name.split('.') if x.isdigit()))
  if not versions:
    raise FileNotFoundError(
        f'source {name!r}: no built dataset under {root} '
        f'(expected {root}/<version>/dataset_info.json); '
        f'build it with `{_BUILD} {name} --manual_dir=... --data_dir={data_dir}`')
  return versions[-1]


class TfdsSource:
  """Random access to one split of a built TFDS dataset, images kept encoded."""

  def __init__(self, name: str, data_dir: str | None, split: str):
    tfds = _tfds()
    from re3_jax.input.builders import common  # pylint: disable=g-import-not-at-top
    self.name = name
    self.path = dataset_dir(name, data_dir)
    builder = tfds.builder_from_directory(str(self.path))
    features = builder.info.features
    if 'frames' in features and 'boxes' in features:
      self.kind, image_key = TRACK, 'frames'
    elif 'image' in features and 'boxes' in features:
      self.kind, image_key = IMAGE, 'image'
    else:
      raise ValueError(f'source {name!r} at {self.path} has neither frames+boxes nor image+boxes '
                       f'features (it has {sorted(features.keys())})')
    if split not in builder.info.splits:
      raise ValueError(f'source {name!r} has no split {split!r} '
                       f'(it has {sorted(builder.info.splits)})')
    self.data = builder.as_data_source(split=split, decoders={image_key: common.RawBytes()})
    if len(self.data) == 0:
      raise ValueError(f'source {name!r} split {split!r} at {self.path} has no examples')

  def __len__(self):
    return len(self.data)

  def __getitem__(self, index):
    return self.data[index]



# Frames of a source, fitted to the canvas.


def decode(data: bytes, reduction: int, where: str) -> np.ndarray:
  """Decodes an encoded image to RGB at 1/`reduction` size.

  Raises:
    ValueError: naming `where`: no bytes, or bytes OpenCV cannot decode.
  """
  flag = dict(_REDUCED)[reduction]
  if not len(data):
    raise ValueError(f'{where}: the image is empty (0 bytes)')
  try:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
  except cv2.error as e:
    raise ValueError(f'{where}: the image cannot be decoded: {e.err}') from None
  if image is None:
    raise ValueError(f'{where}: the JPEG cannot be decoded')
  # Contiguous RGB (OpenCV's SIMD swap) so that the copy to the canvas is a plain memcpy.
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _fit_scale(height: int, width: int, canvas: tuple[int, int]) -> float:
  return min(1.0, canvas[0] / height, canvas[1] / width)


def fit(image: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
  """Scales an image down (never up) to fit the canvas."""
  h, w = image.shape[:2]
  scale = _fit_scale(h, w, canvas)
  if scale >= 1:
    return image
  size = (max(1, min(canvas[1], round(w * scale))), max(1, min(canvas[0], round(h * scale))))
  return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def decode_fitted(data: bytes, height: int, width: int, canvas, where: str) -> np.ndarray:
  """Decodes a JPEG of known size straight to the canvas-fitting size."""
  scale = _fit_scale(height, width, canvas)
  reduction = next(r for r, _ in _REDUCED if r == 1 or scale * r <= 1)
  image = decode(data, reduction, where)
  expected = (-(-height // reduction), -(-width // reduction))
  if abs(image.shape[0] - expected[0]) > 1 or abs(image.shape[1] - expected[1]) > 1:
    raise ValueError(f'{where}: the JPEG is '
                     f'{image.shape[0] * reduction}x{image.shape[1] * reduction} '
                     f'but the dataset records {height}x{width}')
  return fit(image, canvas)


def visible_window(visible: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
  """Indices of ``length`` frames to use from a track with per-frame visibility.

  A random run of ``length`` consecutive visible frames when there is one;
  otherwise the longest visible run played forwards and backwards.

  Args:
    visible: bool ``(N,)``.
    length: ``T``, the number of indices wanted.
    rng: the sequence's random generator.

  Returns:
    int ``(T,)`` indices into the track.
  """
  visible = np.asarray(visible, bool)
  if not visible.any():
    raise ValueError('the track has no visible frame')
  padded = np.concatenate([[False], visible, [False]])
  edges = np.flatnonzero(padded[1:] != padded[:-1])
  starts, ends = edges[0::2], edges[1::2]  # runs [start, end)
  lengths = ends - starts
  fits = lengths >= length
  if fits.any():
    # Every start position of every long-enough run, equally likely.
    counts = lengths[fits] - length + 1
    k = rng.integers(counts.sum())
    run = np.searchsorted(np.cumsum(counts), k, side='right')
    offset = k - (np.cumsum(counts)[run] - counts[run])
    return starts[fits][run] + offset + np.arange(length)
  best = int(np.argmax(lengths))
  run = np.arange(starts[best], ends[best])
  if len(run) == 1:
    return np.repeat(run, length)
  cycle = np.concatenate([run, run[-2:0:-1]])  # 0 1 2 3 2 1 | 0 1 ...
  return np.resize(cycle, length)


def scale_boxes(boxes: np.ndarray, frames: Sequence[np.ndarray], original: tuple[int, int]):
  """Boxes of frames that were ``original`` (h, w) and now have their own sizes."""
  sizes = np.array([f.shape[:2] for f in frames], np.float32)
  sy = sizes[:, 0] / original[0]
  sx = sizes[:, 1] / original[1]
  return np.asarray(boxes, np.float32) * np.stack([sx, sy, sx, sy], -1)
