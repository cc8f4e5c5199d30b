"""Re3 as a tracker of the got10k toolkit (``got10k.trackers.Tracker``).

The got10k toolkit (``pip install got10k``) runs its experiments
(``ExperimentOTB``, ``ExperimentGOT10k``, ...) on any subclass of its
``Tracker`` with two methods:

* ``init(image, box)``: a PIL image and the first box as ``[x, y, w, h]``;
* ``update(image) -> [x, y, w, h]``: the box in the next image.

got10k's ``update`` returns a box only; `Re3Got10kTracker.score` holds the confidence of
the box it returned last (`re3_jax.tracking.confidence`: 1 after ``init``, lower when the box
holds something else; NaN for a model without a score, and before ``init``).

Its boxes are the benchmarks' files read as they are: OTB's ``x, y, w, h``
with 1-based ``x, y`` (got10k's OTB dataset loads ``groundtruth_rect.txt``
unchanged, and its IoU and centre error take those boxes without any shift).
`Re3Got10kTracker` converts them to re3_jax's xyxy (continuous 0-based pixels)
with `boxes.from_otb` and back with `boxes.to_otb`, and PIL images of 8 bits a channel
to uint8 RGB arrays. Images go to `Re3Tracker` otherwise as they are, so the adapter
accepts and refuses what the tracker does, with its messages (`images.to_rgb`): a float
array (0..1 or 0..255, ambiguous), integers of another type, a PIL 'F' or 'I;16' image
(their values are not 0..255) are named errors, never rescaled or wrapped.

got10k is not a dependency of re3_jax: without it this module still imports,
and constructing the adapter raises ImportError with an install hint.
"""

from __future__ import annotations

import os

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.datasets import toolkit_roots

try:
  from got10k.trackers import Tracker as _Got10kTracker  # pylint: disable=g-import-not-at-top
  _GOT10K_ERROR: ImportError | None = None
except ImportError as e:  # got10k (or one of its own dependencies) is missing
  _Got10kTracker = object
  _GOT10K_ERROR = e

TRACK_ID = 'object'


# PIL modes of 8 bits a channel, which convert('RGB') maps to 0..255 without loss of scale.
_EIGHT_BIT_MODES = ('1', 'L', 'LA', 'La', 'P', 'PA', 'RGB', 'RGBA', 'RGBa', 'RGBX', 'CMYK',
                    'YCbCr', 'LAB', 'HSV')


def _rgb(image):
  """A PIL image of 8 bits a channel -> (H, W, 3) uint8 RGB; anything else as it is, for the
  tracker's checks (`images.to_rgb`)."""
  if image is None or isinstance(image, (str, bytes, os.PathLike)):
    raise ValueError(f'image is {image!r}, not an image: give a PIL image or a uint8 (H, W, 3) '
                     'array, as got10k\'s experiments do')
  if hasattr(image, 'convert') and hasattr(image, 'mode'):
    if image.mode in _EIGHT_BIT_MODES and image.mode != 'RGB':
      image = image.convert('RGB')
    return np.asarray(image)  # 'F', 'I', 'I;16' keep their dtype: refused by the tracker
  return image


def check_got10k_box(box) -> np.ndarray:
  """got10k's ``[x, y, w, h]`` as a float64 (4,) array; ValueError naming a malformed one."""
  try:
    array = np.asarray(box, np.float64)
  except (TypeError, ValueError):
    raise ValueError(f'got10k box {box!r} is not 4 numbers [x, y, w, h]') from None
  if array.shape != (4,):
    raise ValueError(f'got10k box {box!r} must be 4 numbers [x, y, w, h], got shape {array.shape}')
  if not np.isfinite(array).all() or not (array[2:] > 0).all():
    raise ValueError(f'got10k box {array.tolist()} [x, y, w, h] must be finite with w and h > 0')
  return array


class Re3Got10kTracker(_Got10kTracker):
  """A `re3_jax.tracking.tracker.Re3Tracker` tracking one object, for got10k's experiments.

  Example::

    from got10k.experiments import ExperimentOTB
    tracker = Re3Got10kTracker()  # the model shipped with the package
    experiment = ExperimentOTB('data/OTB', version=2015)
    experiment.run(tracker)
    experiment.report([tracker.name])

  Attributes:
    tracker: the `Re3Tracker`.
    score: the confidence of the last box (``init``'s or ``update``'s), a float: see the
      module docstring.

  Args:
    tracker: the Re3 tracker to run (default: `Re3Tracker.pretrained()`).
    name: the name got10k files the results under.

  Raises:
    ImportError: the got10k toolkit is not installed.
  """

  def __init__(self, tracker=None, name: str = 'Re3'):
    if _GOT10K_ERROR is not None:
      raise ImportError('Re3Got10kTracker needs the got10k toolkit: '
                        f'{toolkit_roots.install_hint(_GOT10K_ERROR)} ({_GOT10K_ERROR})'
                        ) from _GOT10K_ERROR
    super().__init__(name=name, is_deterministic=True)
    if tracker is None:
      from re3_jax.tracking import tracker as tracker_lib  # pylint: disable=g-import-not-at-top
      tracker = tracker_lib.Re3Tracker.pretrained()
    self.tracker = tracker
    self.score = float('nan')

  def init(self, image, box) -> None:
    """Starts (or restarts) the object from got10k's ``[x, y, w, h]`` (1-based) box.

    Raises:
      ValueError: naming the box, if it is not 4 finite numbers with ``w, h > 0``
        (the tracker then checks it against the image).
    """
    xyxy = boxes_lib.from_otb(check_got10k_box(box))
    self.score = float('nan')  # until the tracker has taken the box
    _, self.score = self.tracker.track(TRACK_ID, _rgb(image), xyxy, with_score=True)

  def update(self, image) -> np.ndarray:
    """The object's box in `image` as got10k's ``[x, y, w, h]`` (1-based), float64; its
    confidence in `score`."""
    xyxy, self.score = self.tracker.track(TRACK_ID, _rgb(image), with_score=True)
    return boxes_lib.to_otb(np.asarray(xyxy, np.float64))
