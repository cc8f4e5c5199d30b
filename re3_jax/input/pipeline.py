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
* ``KIND:ROOT``: a benchmark root (``otb``: a folder of OTB-layout sequences,
  ``ROOT/NAME/img/0001.jpg`` ..., ``ROOT/NAME/groundtruth_rect.txt``;
  ``got10k``, ``lasot``, ``uav123``, ...; `re3_jax.input.folder_sources`),
  read like a TFDS track dataset: a random sequence, a random run of ``T``
  visible frames (NaN rows of the ground truth are frames out of view).
* ``KIND_sim:ROOT``: the Re3 simulator over a random frame of those sequences
  and its true box, like ``imagenet_det``.

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
import threading
from typing import Any, Sequence

import cv2
import numpy as np

from re3_jax.input import batch as batch_lib
from re3_jax.input import folder_sources
from re3_jax.input import procedural
from re3_jax.input import synthetic
from re3_jax.input import tfds_sources

PROCEDURAL = 'procedural'
# The released code's mix: half synthetic (simulated over ImageNet DET images), the
# rest real, ImageNet Video being about 90% of the real data (reference section 6).
PAPER_MIXTURE = (('imagenet_vid', 0.45), ('alov300', 0.05), ('imagenet_det', 0.5))
# The OTB / VOT setting: ALOV300++ overlaps those benchmarks and is left out.
PAPER_NO_ALOV_MIXTURE = (('imagenet_vid', 0.5), ('imagenet_det', 0.5))

_IMAGE_STREAM = 0x1A6E  # a seed word that separates procedural images from sequences
_IMAGE_CACHE = 64


def parse_mixture(text: str) -> tuple[tuple[str, float], ...]:
  """Parses ``'imagenet_vid=0.45,alov300=0.05,imagenet_det=0.5'``.

  A source without ``=weight`` gets weight 1. Sources with weight 0 are kept
  (they are never drawn), so that a flag can switch one off. Folder sources
  (``otb:ROOT=0.5``) are split the same way, so their ROOT cannot hold ``,``
  or ``=``.
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
      hint = " (a source's folder cannot hold ',' or '=')" if ':' in name else ''
      raise ValueError(f'mixture entry {part!r}: weight {weight!r} is not a number{hint}') from None
    out.append((name.strip(), value))
  if not out:
    raise ValueError(f'mixture {text!r} names no source')
  return tuple(out)


def format_mixture(mixture: Sequence[tuple[str, float]]) -> str:
  """``'imagenet_vid=0.45,imagenet_det=0.55'``: the text `parse_mixture` reads back."""
  return ','.join(f'{name}={float(weight)!r}' for name, weight in mixture)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """What the pipeline reads and how it shapes sequences.

  Attributes:
    mixture: ``(source, weight)`` pairs; a source is ``procedural``,
      ``KIND:ROOT`` (the sequences of a benchmark root, e.g. ``otb:ROOT``, a
      folder of OTB-layout sequence folders, or ``lasot:ROOT``, as tracks),
      ``KIND_sim:ROOT`` (the simulator over their frames; see
      `folder_sources`; ROOT relative to the working directory, without ``,``
      or ``=``), or the name of a TFDS dataset built under ``data_dir``
      (``imagenet_vid``, ``alov300``, ``imagenet_det``). Weights are normalised.
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
  mixture: tuple[tuple[str, float], ...] = dataclasses.field(
      default=((PROCEDURAL, 1.0),), metadata={'parse': parse_mixture, 'format': format_mixture})
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
      folder_sources.parse_name(name)  # refuses a folder the mixture text cannot hold
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


def open_source(name: str, config: PipelineConfig):
  """The source a mixture name stands for: a `folder_sources.FolderSource` or a TFDS source."""
  if folder_sources.parse_name(name) is not None:
    return folder_sources.FolderSource(name)
  return tfds_sources.TfdsSource(name, config.data_dir, config.split)


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
    self.sources = [None if name == PROCEDURAL or weight == 0 else open_source(name, config)
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
    """Sequence ``index``: frames (list of T RGB uint8 arrays), boxes (T, 4), source (its
    index in ``config.mixture``; `batch.collate` leaves it out of the `Batch`)."""
    rng = self.rng(index)
    k = int(rng.choice(len(self.weights), p=self.weights))
    source = self.sources[k]
    config = self.config
    if source is None:
      frames, boxes = self._simulate(rng, *self.procedural_image(index // config.procedural_reuse))
    elif source.kind == tfds_sources.IMAGE:
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
    frames = [tfds_sources.fit(f, config.frame_size) for f in frames]
    return frames, tfds_sources.scale_boxes(boxes, frames, config.sim_size)

  def _simulated(self, source, rng):
    i = int(rng.integers(len(source)))
    example = source[i]
    where = f'{source.name}[{i}]'
    if 'image_id' in example:
      where += f' ({example["image_id"]!r})'
    image = tfds_sources.decode(example['image'], 1, where)
    boxes = np.asarray(example['boxes'], np.float32)
    if 'region' in example:  # a folder source's window around a small target
      x0, y0, x1, y1 = example['region']
      image = image[y0:y1, x0:x1]
      boxes = boxes - np.array([x0, y0, x0, y0], np.float32)
    try:
      return self._simulate(rng, image, boxes)
    except ValueError as e:
      raise ValueError(f'{where}: {e}') from None

  def _track(self, source, rng):
    config = self.config
    i = int(rng.integers(len(source)))
    example = source[i]
    name = example.get('video', b'')
    name = name.decode() if isinstance(name, bytes) else str(name)
    track = f', track {int(example["track_id"])}' if 'track_id' in example else ''
    where = f'{source.name}[{i}] (video {name!r}{track})'
    try:
      indices = tfds_sources.visible_window(example['visible'], self.seq_len, rng)
    except ValueError as e:
      raise ValueError(f'{where}: {e}') from None
    height, width = int(example['height']), int(example['width'])
    files = getattr(example['frames'], 'file', None)  # a folder source's: named in errors
    cache = {}
    frames = []
    for t in indices:
      if t not in cache:
        cache[t] = tfds_sources.decode_fitted(
            example['frames'][t], height, width, config.frame_size,
            f'{where} frame {t}' + (f' ({files(t)})' if files else ''))
      frames.append(cache[t])
    boxes = np.asarray(example['boxes'], np.float32)[indices]
    return frames, tfds_sources.scale_boxes(boxes, frames, (height, width))


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
               .batch(self.host_batch_size,
                      batch_fn=lambda seqs: batch_lib.collate(seqs, frame_size)))
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

  def __next__(self) -> batch_lib.Batch:
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
