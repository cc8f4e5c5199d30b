"""The input pipeline: batches of training sequences from a weighted mixture of sources.

A training batch holds ``B`` sequences of ``T`` consecutive frames with the true
box of the tracked object in every frame. Crops are NOT cut here: the train step
cuts them on the device with the core's crop function, so that it can place a
window at the network's own previous prediction (self-training). The crop
jitter of reference section 6 is therefore also done on the device
(``re3_jax.training.jitter``); this pipeline only delivers frames and true boxes.

Sources (``PipelineConfig.mixture``, a weight each; the paper's mix is half
synthetic):

* ``procedural``: the Re3 simulator (``re3_jax.input.synthetic``) over procedurally
  generated images. Needs no files: the embedded default.
* a TFDS dataset with an ``image`` feature (``imagenet_det``): the Re3
  simulator over a random image of it and its object boxes.
* a TFDS dataset with ``frames`` (``imagenet_vid``, ``alov300``): a random
  track, and in it a random run of ``T`` consecutive frames in which the object
  is visible. A track with no such run plays its longest visible run forwards
  and backwards (ping-pong) until ``T`` frames are filled. Tracks are sampled
  uniformly, not by length.

Every sequence is mirrored horizontally with probability ``mirror_prob``.
Frames larger than the canvas (``frame_size``) are scaled down to fit (JPEGs
are decoded at 1/2, 1/4 or 1/8 size by the decoder when that is enough, which
is several times faster), boxes with them; then every frame is zero-padded to
the canvas, and its valid size is recorded. Zero padding changes no crop
(reference section 1), so the device crops the padded frames as if they were
the originals.

Determinism: sequence ``i`` of a stream is a pure function of ``(seed, stage,
seq_len, i)``. Host ``p`` of ``P`` takes the sequences ``i = p, p + P, ...``,
so a global batch is the same set of sequences whatever the number of hosts.
The iterator is a Grain iterator: its state (``get_state``) is a small dict that
the training checkpoint stores, and ``set_state`` continues exactly.

Why Grain and not tf.data: random access through TFDS ArrayRecord data sources
makes every sequence a pure function of its index (exact resume without
replaying, no shuffle buffers); the iterator state is a few integers; the
transformations are plain NumPy/OpenCV in threads (JPEG decoding and OpenCV
release the GIL) or worker processes; and TensorFlow stays out of the training
process.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
import threading
from typing import Any, NamedTuple, Sequence

import cv2
import numpy as np

from re3_jax.input import procedural
from re3_jax.input import synthetic

PROCEDURAL = 'procedural'
# The released code's mix: half synthetic (simulated over ImageNet DET images), the
# rest real, ImageNet Video being about 90% of the real data (reference section 6).
PAPER_MIXTURE = (('imagenet_vid', 0.45), ('alov300', 0.05), ('imagenet_det', 0.5))
# The OTB / VOT setting: ALOV300++ overlaps those benchmarks and is left out.
PAPER_NO_ALOV_MIXTURE = (('imagenet_vid', 0.5), ('imagenet_det', 0.5))

_TRACK, _IMAGE = 'track', 'image'
_BUILD = 'python -m re3_jax.input.builders.build'  # the command that builds a TFDS source
_IMAGE_STREAM = 0x1A6E  # a seed word that separates procedural images from sequences
_IMAGE_CACHE = 64
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
            (2, cv2.IMREAD_REDUCED_COLOR_2), (1, cv2.IMREAD_COLOR))


class Batch(NamedTuple):
  """One host's batch; a pytree of NumPy arrays.

  Attributes:
    frames: uint8 ``(B, T, H, W, 3)`` RGB frames, zero-padded to the canvas
      ``(H, W)`` at the bottom and right.
    valid_sizes: int32 ``(B, T, 2)``: each frame's ``(height, width)`` before
      padding.
    boxes: float32 ``(B, T, 4)``: the true box in each frame, xyxy pixels.
    source: int32 ``(B,)``: index in ``PipelineConfig.mixture`` of each
      sequence's source.
  """
  frames: np.ndarray
  valid_sizes: np.ndarray
  boxes: np.ndarray
  source: np.ndarray


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """What the pipeline reads and how it shapes sequences.

  Attributes:
    mixture: ``(source, weight)`` pairs; a source is ``procedural`` or the name
      of a TFDS dataset built under ``data_dir`` (``imagenet_vid``,
      ``alov300``, ``imagenet_det``). Weights are normalised.
    data_dir: where the TFDS datasets were built (``--data_dir`` of
      ``python -m re3_jax.input.builders.build``).
    split: the split to read from every TFDS source.
    frame_size: ``(height, width)`` of the canvas frames are padded to;
      larger frames are scaled down to fit.
    sim_size: ``(height, width)`` of simulated frames (reference: 400 x 400).
    num_distractors: distractor patches in simulated sequences.
    procedural_reuse: consecutive sequences of the stream that share one
      procedural image (each with its own target, motion and distractors);
      making the image costs more than simulating two frames over it.
    mirror_prob: probability of mirroring a whole sequence horizontally.
    num_threads: threads that make batches (decoding, simulation), each
      thread one batch at a time.
    prefetch: batches made ahead of use (host memory: this many batches).
    num_workers: worker processes (0: threads in this process only). Workers
      need absl flags parsed (``app.run``), as Grain reads its own flags.
  """
  mixture: tuple[tuple[str, float], ...] = ((PROCEDURAL, 1.0),)
  data_dir: str | None = None
  split: str = 'train'
  frame_size: tuple[int, int] = (400, 400)
  sim_size: tuple[int, int] = synthetic.SIM_SIZE
  num_distractors: int = 20
  procedural_reuse: int = 4
  mirror_prob: float = 0.5
  num_threads: int = 4
  prefetch: int = 4
  num_workers: int = 0

  def __post_init__(self):
    if not self.mixture:
      raise ValueError('PipelineConfig.mixture is empty: give at least one source')
    for name, weight in self.mixture:
      if not (np.isfinite(weight) and weight >= 0):
        raise ValueError(f'mixture weight of {name!r} must be finite and >= 0, got {weight}')
    if sum(w for _, w in self.mixture) <= 0:
      raise ValueError(f'mixture weights sum to 0: {self.mixture}')
    for field in ('frame_size', 'sim_size'):
      size = getattr(self, field)
      if len(size) != 2 or min(size) < 1:
        raise ValueError(f'PipelineConfig.{field} must be (height, width) >= 1, got {size}')
    if self.procedural_reuse < 1:
      raise ValueError(f'procedural_reuse must be >= 1, got {self.procedural_reuse}')
    if not 0 <= self.mirror_prob <= 1:
      raise ValueError(f'mirror_prob must be in [0, 1], got {self.mirror_prob}')

  def replace(self, **changes) -> PipelineConfig:
    return dataclasses.replace(self, **changes)


def parse_mixture(text: str) -> tuple[tuple[str, float], ...]:
  """Parses ``'imagenet_vid=0.45,alov300=0.05,imagenet_det=0.5'``.

  A source without ``=weight`` gets weight 1. Sources with weight 0 are kept
  (they are never drawn), so that a flag can switch one off.
  """
  out = []
  for part in text.split(','):
    part = part.strip()
    if not part:
      continue
    name, _, weight = part.partition('=')
    try:
      value = float(weight) if weight else 1.0
    except ValueError:
      raise ValueError(f'mixture entry {part!r}: weight {weight!r} is not a number') from None
    out.append((name.strip(), value))
  if not out:
    raise ValueError(f'mixture {text!r} names no source')
  return tuple(out)


# ---------------------------------------------------------------------------
# TFDS sources.


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


class _TfdsSource:
  """Random access to one split of a built TFDS dataset, images kept encoded."""

  def __init__(self, name: str, data_dir: str | None, split: str):
    tfds = _tfds()
    from re3_jax.input.builders import common  # pylint: disable=g-import-not-at-top
    self.name = name
    self.path = dataset_dir(name, data_dir)
    builder = tfds.builder_from_directory(str(self.path))
    features = builder.info.features
    if 'frames' in features and 'boxes' in features:
      self.kind, image_key = _TRACK, 'frames'
    elif 'image' in features and 'boxes' in features:
      self.kind, image_key = _IMAGE, 'image'
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


# ---------------------------------------------------------------------------
# Making one sequence.


def _decode(data: bytes, reduction: int, where: str) -> np.ndarray:
  flag = dict(_REDUCED)[reduction]
  image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
  if image is None:
    raise ValueError(f'{where}: the JPEG cannot be decoded')
  # Contiguous RGB (OpenCV's SIMD swap) so that the copy to the canvas is a plain memcpy.
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _fit_scale(height: int, width: int, canvas: tuple[int, int]) -> float:
  return min(1.0, canvas[0] / height, canvas[1] / width)


def _fit(image: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
  """Scales an image down (never up) to fit the canvas."""
  h, w = image.shape[:2]
  scale = _fit_scale(h, w, canvas)
  if scale >= 1:
    return image
  size = (max(1, min(canvas[1], round(w * scale))), max(1, min(canvas[0], round(h * scale))))
  return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _decode_fitted(data: bytes, height: int, width: int, canvas, where: str) -> np.ndarray:
  """Decodes a JPEG of known size straight to the canvas-fitting size."""
  scale = _fit_scale(height, width, canvas)
  reduction = next(r for r, _ in _REDUCED if r == 1 or scale * r <= 1)
  image = _decode(data, reduction, where)
  expected = (-(-height // reduction), -(-width // reduction))
  if abs(image.shape[0] - expected[0]) > 1 or abs(image.shape[1] - expected[1]) > 1:
    raise ValueError(f'{where}: the JPEG is '
                     f'{image.shape[0] * reduction}x{image.shape[1] * reduction} '
                     f'but the dataset records {height}x{width}')
  return _fit(image, canvas)


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


class SequenceMaker:
  """Makes sequence ``i`` of a stream: a pure function of ``(seed, stage, T, i)``."""

  def __init__(self, config: PipelineConfig, seq_len: int, seed: int, stage: int = 0):
    if seq_len < 1:
      raise ValueError(f'seq_len must be >= 1, got {seq_len}')
    self.config = config
    self.seq_len = seq_len
    self.seed = seed
    self.stage = stage
    weights = np.array([w for _, w in config.mixture], np.float64)
    self.weights = weights / weights.sum()
    self.sources = [None if name == PROCEDURAL or weight == 0 else
                    _TfdsSource(name, config.data_dir, config.split)
                    for name, weight in config.mixture]
    self._images = collections.OrderedDict()  # recent procedural images, by number
    self._lock = threading.Lock()

  def __getstate__(self):  # worker processes get a copy without the cache and lock
    state = dict(self.__dict__)
    del state['_images'], state['_lock']
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._images = collections.OrderedDict()
    self._lock = threading.Lock()

  def rng(self, index: int) -> np.random.Generator:
    return np.random.default_rng([self.seed, self.stage, self.seq_len, index])

  def procedural_image(self, number: int) -> tuple[np.ndarray, np.ndarray]:
    """Procedural image ``number`` of the stream (cached: it is shared)."""
    with self._lock:
      if number in self._images:
        self._images.move_to_end(number)
        return self._images[number]
    image = procedural.procedural_image(
        np.random.default_rng([self.seed, self.stage, self.seq_len, number, _IMAGE_STREAM]))
    with self._lock:
      self._images[number] = image
      while len(self._images) > _IMAGE_CACHE:
        self._images.popitem(last=False)
    return image

  def __call__(self, index: int) -> dict[str, Any]:
    """Sequence ``index``: frames (list of T RGB uint8 arrays), boxes (T, 4), source."""
    rng = self.rng(index)
    k = int(rng.choice(len(self.weights), p=self.weights))
    source = self.sources[k]
    config = self.config
    if source is None:
      frames, boxes = self._simulate(rng, *self.procedural_image(index // config.procedural_reuse))
    elif source.kind == _IMAGE:
      frames, boxes = self._simulated(source, rng)
    else:
      frames, boxes = self._track(source, rng)
    if rng.random() < config.mirror_prob:
      frames = [cv2.flip(f, 1) for f in frames]
      widths = np.array([f.shape[1] for f in frames], np.float32)
      boxes = np.stack([widths - boxes[:, 2], boxes[:, 1], widths - boxes[:, 0], boxes[:, 3]], -1)
    return {'frames': frames, 'boxes': boxes.astype(np.float32), 'source': k}

  def _simulate(self, rng, image, boxes):
    """The Re3 simulator over one image, frames fitted to the canvas."""
    config = self.config
    frames, boxes = synthetic.simulate(rng, image, boxes, self.seq_len, size=config.sim_size,
                                       num_distractors=config.num_distractors)
    frames = [_fit(f, config.frame_size) for f in frames]
    return frames, _scale_boxes(boxes, frames, config.sim_size)

  def _simulated(self, source, rng):
    i = int(rng.integers(len(source)))
    example = source[i]
    where = f'{source.name}[{i}]'
    if 'image_id' in example:
      where += f' ({example["image_id"]!r})'
    image = _decode(example['image'], 1, where)
    try:
      return self._simulate(rng, image, np.asarray(example['boxes'], np.float32))
    except ValueError as e:
      raise ValueError(f'{where}: {e}') from None

  def _track(self, source, rng):
    config = self.config
    i = int(rng.integers(len(source)))
    example = source[i]
    name = example.get('video', b'')
    name = name.decode() if isinstance(name, bytes) else str(name)
    where = f'{source.name}[{i}] (video {name!r}, track {int(example.get("track_id", 0))})'
    try:
      indices = visible_window(example['visible'], self.seq_len, rng)
    except ValueError as e:
      raise ValueError(f'{where}: {e}') from None
    height, width = int(example['height']), int(example['width'])
    cache = {}
    frames = []
    for t in indices:
      if t not in cache:
        cache[t] = _decode_fitted(example['frames'][t], height, width, config.frame_size,
                                  f'{where} frame {t}')
      frames.append(cache[t])
    boxes = np.asarray(example['boxes'], np.float32)[indices]
    return frames, _scale_boxes(boxes, frames, (height, width))


def _scale_boxes(boxes: np.ndarray, frames: Sequence[np.ndarray], original: tuple[int, int]):
  """Boxes of frames that were ``original`` (h, w) and now have their own sizes."""
  sizes = np.array([f.shape[:2] for f in frames], np.float32)
  sy = sizes[:, 0] / original[0]
  sx = sizes[:, 1] / original[1]
  return np.asarray(boxes, np.float32) * np.stack([sx, sy, sx, sy], -1)


def collate(sequences: Sequence[dict[str, Any]], frame_size: tuple[int, int]) -> Batch:
  """Pads and stacks sequences into a `Batch` (one copy of every frame)."""
  b, t = len(sequences), len(sequences[0]['frames'])
  frames = np.zeros((b, t, *frame_size, 3), np.uint8)
  valid = np.zeros((b, t, 2), np.int32)
  for i, seq in enumerate(sequences):
    for j, frame in enumerate(seq['frames']):
      h, w = frame.shape[:2]
      frames[i, j, :h, :w] = frame
      valid[i, j] = h, w
  return Batch(frames=frames, valid_sizes=valid,
               boxes=np.stack([s['boxes'] for s in sequences]),
               source=np.array([s['source'] for s in sequences], np.int32))


# ---------------------------------------------------------------------------
# The iterator.


class Pipeline:
  """An endless, checkpointable iterator of `Batch` for one curriculum stage.

  Args:
    config: the sources and shapes.
    seq_len: ``T``, frames per sequence (the stage's unrolls).
    batch_size: the GLOBAL batch size; each host yields
      ``batch_size / process_count`` sequences.
    seed: the stream's seed.
    stage: the curriculum stage; each stage has its own stream.
    process_index, process_count: this host and the number of hosts (default:
      ``jax.process_index()`` and ``jax.process_count()``).
  """

  def __init__(self, config: PipelineConfig, *, seq_len: int, batch_size: int, seed: int,
               stage: int = 0, process_index: int | None = None,
               process_count: int | None = None):
    import grain  # pylint: disable=g-import-not-at-top
    if process_index is None or process_count is None:
      import jax  # pylint: disable=g-import-not-at-top
      process_index = jax.process_index() if process_index is None else process_index
      process_count = jax.process_count() if process_count is None else process_count
    if batch_size < 1 or batch_size % process_count:
      raise ValueError(f'the global batch size {batch_size} must be a positive multiple of the '
                       f'number of hosts ({process_count})')
    if not 0 <= process_index < process_count:
      raise ValueError(f'process_index {process_index} is not in [0, {process_count})')
    self.config = config
    self.seq_len, self.batch_size, self.seed, self.stage = seq_len, batch_size, seed, stage
    self.process_index, self.process_count = process_index, process_count
    self.host_batch_size = batch_size // process_count
    self.maker = SequenceMaker(config, seq_len, seed, stage)
    frame_size = tuple(config.frame_size)
    # Batch k is made from sequences k*B..(k+1)*B-1 of this host by one thread, so its
    # content does not depend on threads, workers or prefetching; they only change speed.
    dataset = (grain.MapDataset.range(0, 1 << 62)[process_index::process_count]
               .map(self.maker)
               .batch(self.host_batch_size, batch_fn=lambda seqs: collate(seqs, frame_size)))
    dataset = dataset.to_iter_dataset(
        grain.ReadOptions(num_threads=config.num_threads, prefetch_buffer_size=config.prefetch))
    if config.num_workers > 0:
      dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=config.num_workers))
    self._dataset = dataset
    self._iterator = iter(dataset)

  def _fingerprint(self) -> dict[str, Any]:
    return {'seq_len': self.seq_len, 'batch_size': self.batch_size, 'seed': self.seed,
            'stage': self.stage, 'process_index': self.process_index,
            'process_count': self.process_count,
            'mixture': [list(m) for m in self.config.mixture],
            'frame_size': list(self.config.frame_size)}

  def __iter__(self):
    return self

  def __next__(self) -> Batch:
    return next(self._iterator)

  def close(self) -> None:
    """Stops the prefetching threads (and worker processes); idempotent.

    A pipeline that is dropped without `close` keeps its threads making
    batches until its prefetch buffer is full.
    """
    close = getattr(self._iterator, 'close', None)
    if close is not None:
      close()

  def __enter__(self) -> Pipeline:
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def get_state(self) -> dict[str, Any]:
    """A JSON-serialisable state: where the stream is and what stream it is."""
    return {'stream': self._fingerprint(), 'grain': self._iterator.get_state()}

  def set_state(self, state: dict[str, Any]) -> None:
    """Continues exactly where `get_state` was taken.

    Raises:
      ValueError: the state belongs to a different stream (other seed, stage,
        shapes, hosts or sources).
    """
    mine = json.loads(json.dumps(self._fingerprint()))
    theirs = json.loads(json.dumps(state.get('stream')))
    if mine != theirs:
      diff = {k: (theirs.get(k) if isinstance(theirs, dict) else None, v)
              for k, v in mine.items() if not isinstance(theirs, dict) or theirs.get(k) != v}
      raise ValueError('the saved input state is for another stream; '
                       f'(saved, this) differ in: {diff}')
    self._iterator.set_state(state['grain'])
