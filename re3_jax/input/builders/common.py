"""What the three TFDS builders of this package share: the track feature spec and
example, ArrayRecord as the default file format, and the skip counts in the
dataset's metadata.

Needs tensorflow_datasets (the ``data`` extra), not TensorFlow.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from re3_jax.datasets import annotations
from re3_jax.datasets import downloads
from re3_jax.datasets import tracks as tracks_lib

DEFAULT_FILE_FORMAT = 'array_record'


class ArrayRecordByDefault:
  """Builder mixin: writes ArrayRecord unless a file format is given.

  tfds 4.9 has no class attribute for a builder's default format (its own
  default is TFRecord), so this sets it after construction when the caller
  gave none and the dataset is not already prepared in another format (then
  the stored format is kept, as tfds does).
  """

  def __init__(self, *, file_format: Any = None, **kwargs: Any):
    super().__init__(file_format=file_format, **kwargs)
    if file_format is None and not self.is_prepared():
      self.info.set_file_format(DEFAULT_FILE_FORMAT, override=True)


def track_features() -> tfds.features.FeaturesDict:
  """The features of one object track (imagenet_vid and alov300)."""
  return tfds.features.FeaturesDict({
      'video': tfds.features.Text(),
      'track_id': tfds.features.Scalar(np.int32),
      'label': tfds.features.Text(),
      'height': tfds.features.Scalar(np.int32),
      'width': tfds.features.Scalar(np.int32),
      'frames': tfds.features.Sequence(
          tfds.features.Image(shape=(None, None, 3), encoding_format='jpeg')),
      'frame_index': tfds.features.Tensor(shape=(None,), dtype=np.int32),
      'boxes': tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
      'visible': tfds.features.Tensor(shape=(None,), dtype=np.bool_),
      'occluded': tfds.features.Tensor(shape=(None,), dtype=np.bool_),
      'interpolated': tfds.features.Tensor(shape=(None,), dtype=np.bool_),
  })


def track_example(video: downloads.Video, track: tracks_lib.Track) -> dict[str, Any]:
  """The example of `track` of `video`; frames are the original JPEG bytes."""
  return {
      'video': video.name,
      'track_id': np.int32(track.track_id),
      'label': track.label,
      'height': np.int32(video.height),
      'width': np.int32(video.width),
      'frames': [video.frames[int(t)] for t in track.frame_index],
      'frame_index': track.frame_index.astype(np.int32),
      'boxes': track.boxes.astype(np.float32),
      'visible': track.visible,
      'occluded': track.occluded,
      'interpolated': track.interpolated,
  }


def split_generators(builder, data_root: pathlib.Path, ann_root: pathlib.Path,
                     splits: Sequence[str], dataset: str) -> dict[str, Any]:
  """``{split: builder._generate_examples(data_dir, ann_dir, split)}`` for the splits present.

  A split is present if ``data_root/split`` exists; its ``ann_root/split`` must
  exist too. Missing splits are logged and left out (e.g. only ``train`` was
  downloaded).

  Raises:
    FileNotFoundError: naming the folders, if no split is present or a present
      split has no annotation folder.
  """
  generators = {}
  for split in splits:
    data_dir, ann_dir = data_root / split, ann_root / split
    if not data_dir.is_dir():
      logging.warning('%s: no split %r (%s not found); building without it', dataset, split,
                      data_dir)
      continue
    if not ann_dir.is_dir():
      raise FileNotFoundError(
          f'{dataset} split {split!r}: annotation folder {ann_dir} not found (frames are in '
          f'{data_dir})')
    generators[split] = builder._generate_examples(  # pylint: disable=protected-access
        data_dir, ann_dir, split)
  if not generators:
    raise FileNotFoundError(
        f'{dataset}: no split found, expected ' + ' or '.join(str(data_root / s) for s in splits))
  return generators


def generate_tracks(builder: tfds.core.DatasetBuilder, split: str,
                    load: Callable[[str], downloads.Video], videos: Sequence[str]):
  """Yields ``(key, example)`` for every track of `videos` (loaded by `load` in threads).

  Records the split's skip counts when done (`record_skips`).
  """
  skips = annotations.SkipCounter()
  count = 0
  for video in downloads.threaded_map(load, videos, workers=4, lookahead=8):
    skips.update(video.skips)
    for track in video.tracks:
      count += 1
      yield f'{video.name}/{track.track_id}', track_example(video, track)
  record_skips(builder, split, skips, count)


def record_skips(builder: tfds.core.DatasetBuilder, split: str,
                 skips: annotations.SkipCounter, examples: int) -> None:
  """Stores a split's skip counts in the builder's metadata and logs them.

  ``metadata['skipped'][split]`` = reason -> count and
  ``metadata['skip_examples'][split]`` = reason -> a few places (files or
  videos), written to ``metadata.json`` beside the data.
  """
  metadata = builder.info.metadata
  metadata.setdefault('skipped', {})[split] = skips.as_dict()
  metadata.setdefault('skip_examples', {})[split] = {
      k: list(v) for k, v in sorted(skips.examples.items()) if v}
  logging.info('%s %s: %d examples; skipped: %s', builder.name, split, examples,
               skips.as_dict() or 'nothing')


class RawBytes(tfds.decode.SkipDecoding):
  """A decoder that leaves images encoded: the original JPEG bytes come back.

  ``tfds.decode.SkipDecoding`` alone fails on the NumPy path
  (``tfds.data_source``) for a ``Sequence`` of images (tfds 4.9.10 has no
  ``decode_batch_example_np`` for it); this one works for ``'frames'`` and
  ``'image'``, with or without TensorFlow::

    tfds.data_source('imagenet_vid', split='train', data_dir=D,
                     decoders={'frames': RawBytes()})[0]['frames']  # list of bytes
  """

  def decode_batch_example_np(self, serialized_example):
    return [bytes(b) for b in serialized_example]

  def decode_batch_example(self, serialized_example):
    return serialized_example
