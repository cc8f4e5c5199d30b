"""The trackers of the evaluation harness, by name: `TRACKERS`, the one table of them.

``python -m re3_jax.evaluate --tracker=NAME`` takes the names of this table (its flag's
choices are derived from it), `make` builds one, and an unknown name is an error listing the
registered ones. Every tracker runs through the same two-method interface
(`protocols.Tracker`: ``init(frame, box)``, ``update(frame)``, optionally returning
`protocols.Scored`). Adding one is a module with its tracker class and a factory (a function
`Options` -> `Made`) and one entry in `TRACKERS` (docs/EXTENDING.md).

The entries: ``re3`` (Re3 as ``--tracker.*`` says: the shipped model `shipped.PRETRAINED`, a
checkpoint, or random weights), each shipped model by its name (`shipped.SHIPPED`), and the
OpenCV baselines (`baselines.OPENCV_TRACKERS`).
"""

from __future__ import annotations

import os
import pathlib
from typing import Callable, NamedTuple

from re3_jax.core import tables
from re3_jax.evaluation import baselines
from re3_jax.evaluation import protocols
from re3_jax.tracking import shipped
from re3_jax.tracking import tracker_config


class Options(NamedTuple):
  """What the command line gives every factory (each reads what it needs).

  re3: Re3's weights and settings (``--tracker.*``; None: the defaults, the shipped model).
  nanotrack_dir: the folder of NanoTrack v2's ``backbone.onnx`` and ``head.onnx``
    (``--nanotrack_dir``).
  """
  re3: tracker_config.TrackerConfig | None = None
  nanotrack_dir: str | os.PathLike | None = None


class Made(NamedTuple):
  """A tracker a factory built.

  tracker: it (`protocols.Tracker`).
  description: a line naming it and what it runs (weights, versions), for ``results.json``.
  warning: a line the command line prints to stderr (random weights), or None.
  """
  tracker: protocols.Tracker
  description: str
  warning: str | None = None


class TrackerEntry(NamedTuple):
  """A tracker of the harness: its `name` (``--tracker=NAME``), `make` (`Options` -> `Made`;
  raises ValueError or FileNotFoundError for options it cannot run with) and `about` (a line
  for the flag's help)."""
  name: str
  make: Callable[[Options], Made]
  about: str


def _re3(shipped_name: str | None) -> Callable[[Options], Made]:
  """Re3 as ``--tracker.*`` says (`shipped_name` None) or the shipped model `shipped_name`
  with ``--tracker.*``'s other settings (precision, reset interval, recovery)."""
  def make(options: Options) -> Made:
    import jax  # pylint: disable=g-import-not-at-top
    config = options.re3 or tracker_config.TrackerConfig()
    if shipped_name is not None:
      config = config.replace(checkpoint=shipped_name, random_model=None)
    re3 = tracker_config.build_tracker(config)
    what = config.describe()
    if config.shipped_name is None and not config.random_model:
      what += f' (model {re3.config.name})'
    what = f'{shipped_name or "re3"}: {what}, JAX {jax.default_backend()}'
    warning = (f'{what}: random weights do not track; these numbers only exercise the harness.'
               if config.random_model else None)
    return Made(protocols.Re3SingleTracker(re3), what, warning)
  return make


def _opencv(name: str) -> Callable[[Options], Made]:
  """The OpenCV tracker `name` of `baselines.OPENCV_TRACKERS`."""
  def make(options: Options) -> Made:
    import cv2  # pylint: disable=g-import-not-at-top
    tracker = baselines.OpenCVTracker(name, options.nanotrack_dir)
    return Made(tracker, f'{name}: OpenCV {cv2.__version__}')
  return make


def _opencv_nano(options: Options) -> Made:
  """NanoTrack v2 in OpenCV, its models from ``options.nanotrack_dir`` (checked by SHA-256)."""
  made = _opencv('opencv_nano')(options)
  return made._replace(description=f'{made.description}, models '
                                   f'{pathlib.Path(options.nanotrack_dir).absolute()}')


TRACKERS = tables.by_name(
    'trackers',
    TrackerEntry('re3', _re3(None), 'Re3 as --tracker.* says (default: the shipped model '
                 f'{shipped.PRETRAINED})'),
    *(TrackerEntry(name, _re3(name), f'the shipped model {name}: {about}')
      for name, about in shipped.SHIPPED.items()),
    TrackerEntry('opencv_csrt', _opencv('opencv_csrt'), 'OpenCV CSRT (contrib)'),
    TrackerEntry('opencv_kcf', _opencv('opencv_kcf'), 'OpenCV KCF (contrib)'),
    TrackerEntry('opencv_mil', _opencv('opencv_mil'), 'OpenCV MIL'),
    TrackerEntry('opencv_nano', _opencv_nano, 'NanoTrack v2 in OpenCV (--nanotrack_dir)'),
)


def get(name: str) -> TrackerEntry:
  """The tracker `name`; ValueError naming the registered ones for another name."""
  if name not in TRACKERS:
    raise ValueError(f'unknown tracker {name!r}; known: {", ".join(TRACKERS)}')
  return TRACKERS[name]


def make(name: str, options: Options = Options()) -> Made:
  """Builds the tracker `name` (`TrackerEntry.make`)."""
  return get(name).make(options)
