"""Baselines from OpenCV (CSRT, KCF, MIL; NanoTrack v2) behind the evaluation's tracker
interface.

Every tracker the harness runs (`re3_jax.evaluate`) has two methods:

* ``init(frame, box)``: start (or restart) on an (H, W, 3) uint8 RGB frame
  from an xyxy box (float pixels, re3_jax's convention);
* ``update(frame) -> Scored(box, score)``: the (4,) float xyxy box in the next frame and
  the tracker's confidence in it (`protocols.Scored`).

OpenCV's trackers want BGR frames and, in the API of OpenCV 4.5.1 and later
(``cv2.TrackerCSRT.create()``), integer ``(x, y, w, h)`` boxes; the legacy
API (``cv2.legacy.TrackerCSRT_create()``, and ``cv2.TrackerCSRT_create()``
before 4.5.1) takes floats. This module converts: the frame's channels are
reversed; the start box is rounded to whole pixels (corners rounded, at least
1 pixel wide and high) and clipped to the image, since OpenCV's ``(x, y, w,
h)`` in 0-based pixels covers the continuous box ``[x, x + w) x [y, y + h)``,
the same numbers as our xyxy ``[x, y, x + w, y + h]``.

A failed update (OpenCV's ``ok`` is False: the tracker reports the target
lost) keeps the previous box, and is counted in `OpenCVTracker.lost_frames`.

Scores (each `OpenCVKind.score_kind`): NanoTrack's is ``getTrackingScore()``, the
classification score of the box it chose (a sigmoid output in [0, 1]; it varies from frame
to frame in OpenCV 5.0, 0.81-0.94 on uav_group2). CSRT, KCF and MIL give no confidence
(their ``getTrackingScore()``, which OpenCV 5 declares on every tracker, returns -1); what
they do give is ``update``'s ``ok`` flag, recorded as the score 1.0 (ok) or 0.0 (lost): a
binary confidence, a single operating point of the long-term measures. OpenCV's
``TrackerVit`` also has ``getTrackingScore()``, but needs a model file this project does
not have; it is not a baseline here.

CSRT and KCF live in OpenCV's contrib modules: install
``opencv-contrib-python-headless`` (a superset of ``opencv-python-headless``;
installing both breaks ``cv2``, so uninstall the other first). MIL is in the
main package.

``opencv_nano`` is NanoTrack v2 (``cv2.TrackerNano``, main package, OpenCV
4.7 and later; a small Siamese network run by OpenCV's DNN module), the
tracker a practitioner would pick instead of a correlation filter. It needs
its two ONNX models, which are not shipped or downloaded: a folder
(`OpenCVTracker`'s ``nanotrack_dir``, ``--nanotrack_dir`` of
``python -m re3_jax.evaluate``) holding ``backbone.onnx`` and ``head.onnx``,
the files ``nanotrack_backbone_sim.onnx`` and ``nanotrack_head_sim.onnx`` of
the public GitHub repository HonglinChu/SiamTrackers (commit 248663f,
``NanoTrack/models/nanotrackv2/``; Apache-2.0), renamed. Both are checked
against their published SHA-256 (`NANOTRACK_FILES`) when the tracker is made.
"""

from __future__ import annotations

import functools
import pathlib
from typing import NamedTuple

import numpy as np

from re3_jax.core import digests
from re3_jax.evaluation import protocols


class OpenCVKind(NamedTuple):
  """One OpenCV tracker of the harness: its OpenCV class name (``CSRT`` for
  ``cv2.TrackerCSRT``) and what its score is (the report shows it beside the tracker)."""
  cv_name: str
  score_kind: str


# Tracker names of the harness -> their OpenCV class and score: the one list of them.
OPENCV_TRACKERS = {
    **{f'opencv_{cv_name.lower()}': OpenCVKind(
        cv_name, f"update's ok flag: 1 tracked, 0 lost ({cv_name} has no confidence)")
       for cv_name in ('CSRT', 'KCF', 'MIL')},
    'opencv_nano': OpenCVKind(
        'Nano', "NanoTrack getTrackingScore(): the chosen box's classification score"),
}

# NanoTrack v2's model files (as named in ``nanotrack_dir``) -> their published SHA-256.
NANOTRACK_FILES = {
    'backbone.onnx': '530bdd0cd00f19afab79a863e71ba71e3312395a5dc9151af675082bdaaa2fc4',
    'head.onnx': '0d8c0637be849f092cc7236cae02e55c8b9455ebe37ba50601d6115db4247cd9',
}
NANOTRACK_SOURCE = ('the public GitHub repository HonglinChu/SiamTrackers, commit 248663f, '
                    'NanoTrack/models/nanotrackv2/nanotrack_backbone_sim.onnx and '
                    'nanotrack_head_sim.onnx, saved as backbone.onnx and head.onnx')


def _factory(kind: str):
  """A function making a new OpenCV tracker of `kind` ('CSRT', ...) and whether it takes ints."""
  import cv2  # pylint: disable=g-import-not-at-top
  cls = getattr(cv2, f'Tracker{kind}', None)
  if cls is not None and hasattr(cls, 'create'):
    return cls.create, True
  old = getattr(cv2, f'Tracker{kind}_create', None)
  if old is not None:
    return old, False
  legacy = getattr(cv2, 'legacy', None)
  legacy_make = getattr(legacy, f'Tracker{kind}_create', None)
  if legacy_make is not None:
    return legacy_make, False
  if kind == 'Nano':
    raise RuntimeError(f'OpenCV {cv2.__version__} has no NanoTrack (cv2.TrackerNano): it needs '
                       'OpenCV 4.7 or later')
  raise RuntimeError(
      f'OpenCV {cv2.__version__} has no {kind} tracker (cv2.Tracker{kind}, '
      f'cv2.legacy.Tracker{kind}_create): CSRT and KCF need the contrib modules, '
      '`pip uninstall -y opencv-python-headless && pip install opencv-contrib-python-headless`')


def nanotrack_models(nanotrack_dir) -> tuple[pathlib.Path, pathlib.Path]:
  """NanoTrack v2's (backbone, head) ONNX files in `nanotrack_dir`, checked against their SHA-256.

  Raises:
    ValueError: no folder given, or a file whose SHA-256 is not the published one.
    FileNotFoundError: a file missing.
  """
  if not nanotrack_dir:
    raise ValueError(
        'opencv_nano needs the NanoTrack v2 models: pass --nanotrack_dir=DIR (nanotrack_dir in '
        f'the library), a folder with {" and ".join(NANOTRACK_FILES)}; they are not downloaded. '
        f'Get them from {NANOTRACK_SOURCE}')
  folder = pathlib.Path(nanotrack_dir).expanduser()
  paths = [folder / file_name for file_name in NANOTRACK_FILES]
  missing = [str(path) for path in paths if not path.is_file()]
  if missing:
    raise FileNotFoundError(f'NanoTrack model {" and ".join(missing)} not found (from '
                            f'{NANOTRACK_SOURCE})')
  for path, expected in zip(paths, NANOTRACK_FILES.values()):
    digest = digests.sha256(path)
    if digest != expected:
      raise ValueError(f'NanoTrack model {path} has SHA-256 {digest}, not the published '
                       f'{expected}: not the file of {NANOTRACK_SOURCE}')
  return paths[0], paths[1]


def _quietly(make, *args):
  """``make(*args)`` with OpenCV's warnings off: OpenCV 5's DNN module warns twice per
  NanoTrack made that its new graph engine ignores the (default, CPU) target."""
  import cv2  # pylint: disable=g-import-not-at-top
  log = getattr(getattr(cv2, 'utils', None), 'logging', None)
  if log is None:
    return make(*args)
  level = log.getLogLevel()
  log.setLogLevel(min(level, log.LOG_LEVEL_ERROR))
  try:
    return make(*args)
  finally:
    log.setLogLevel(level)


def opencv_box(box, image_size) -> tuple[int, int, int, int]:
  """An xyxy box -> OpenCV's integer ``(x, y, w, h)``, rounded and clipped to the image.

  Args:
    box: (4,) xyxy float pixels.
    image_size: (height, width) of the frame.

  Returns:
    (x, y, w, h) ints with w, h >= 1 and the box inside the image (as far as
    a 1-pixel box fits).
  """
  h_img, w_img = image_size
  x1, y1, x2, y2 = (int(round(float(v))) for v in box)
  x1 = min(max(x1, 0), w_img - 1)
  y1 = min(max(y1, 0), h_img - 1)
  x2 = min(max(x2, x1 + 1), w_img)
  y2 = min(max(y2, y1 + 1), h_img)
  return x1, y1, x2 - x1, y2 - y1


class OpenCVTracker:
  """An OpenCV single-object tracker with the harness's init/update interface.

  ``OpenCVTracker(name, nanotrack_dir=None)``: `name` one of `OPENCV_TRACKERS`;
  `nanotrack_dir`, for ``opencv_nano`` only, the folder of its models (checked
  here, once: `nanotrack_models`). Each `init` makes a new OpenCV tracker.

  Attributes:
    name: the harness name (e.g. ``'opencv_csrt'``).
    score_kind: what `update`'s score is (`OpenCVKind.score_kind`).
    lost_frames: updates where OpenCV reported failure (previous box kept),
      since the last `init`.
  """

  def __init__(self, name: str, nanotrack_dir: str | pathlib.Path | None = None):
    if name not in OPENCV_TRACKERS:
      raise ValueError(f'unknown OpenCV tracker {name!r}; known: {sorted(OPENCV_TRACKERS)}')
    self.name = name
    self.score_kind = OPENCV_TRACKERS[name].score_kind
    self._make, self._int_boxes = _factory(OPENCV_TRACKERS[name].cv_name)
    if name == 'opencv_nano':
      import cv2  # pylint: disable=g-import-not-at-top
      backbone, head = nanotrack_models(nanotrack_dir)
      params = cv2.TrackerNano_Params()
      params.backbone, params.neckhead = str(backbone), str(head)
      self._make = functools.partial(_quietly, self._make, params)
    self._tracker = None
    self._box = None
    self.lost_frames = 0

  @staticmethod
  def _bgr(frame) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
      raise ValueError(f'frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}')
    return np.ascontiguousarray(frame[..., ::-1])

  def init(self, frame, box) -> None:
    """Starts a new OpenCV tracker on `frame` at xyxy `box`."""
    bgr = self._bgr(frame)
    rect = opencv_box(box, bgr.shape[:2])
    self._tracker = self._make()
    result = self._tracker.init(bgr, rect if self._int_boxes else tuple(map(float, rect)))
    if result is False:  # the legacy API returns a flag, the new one None
      raise RuntimeError(f'{self.name}: OpenCV refused to start at {rect} (x, y, w, h)')
    x, y, w, h = rect
    self._box = np.array([x, y, x + w, y + h], np.float32)
    self.lost_frames = 0

  def update(self, frame) -> protocols.Scored:
    """The (4,) float32 xyxy box in `frame` (the previous box if OpenCV lost the target) and
    its score (`OpenCVKind.score_kind`)."""
    if self._tracker is None:
      raise RuntimeError(f'{self.name}: update before init')
    ok, rect = self._tracker.update(self._bgr(frame))
    if ok:
      x, y, w, h = (float(v) for v in rect)
      self._box = np.array([x, y, x + w, y + h], np.float32)
    else:
      self.lost_frames += 1
    if self.name == 'opencv_nano':
      score = float(self._tracker.getTrackingScore())
    else:
      score = 1.0 if ok else 0.0
    return protocols.Scored(self._box.copy(), score)


def available(name: str) -> bool:
  """Whether this OpenCV build has the tracker `name` (e.g. ``'opencv_csrt'``; for
  ``'opencv_nano'`` its models are a separate matter, `nanotrack_models`)."""
  try:
    _factory(OPENCV_TRACKERS[name].cv_name)
  except (ImportError, RuntimeError):
    return False
  return True
