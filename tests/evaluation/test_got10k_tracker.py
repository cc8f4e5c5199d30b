"""Tests of `re3_jax.evaluation.got10k_tracker`: Re3 run by got10k's ExperimentOTB.

got10k's OTB experiment runs the adapter on a tiny dataset in OTB's layout (one
sequence, named after a real OTB sequence since got10k only reads the names of
its version's list); the project's own harness (`protocols.run_ope`,
`metrics.ope`) runs the same model on the same frames. The boxes got10k wrote
and its reported scores must match the harness's.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import got10k_tracker
from re3_jax.evaluation import metrics
from re3_jax.evaluation import protocols
from re3_jax.datasets import sequences
from re3_jax.testing import fake_datasets
from re3_jax.tracking import tracker as tracker_lib

VERSION = 2013
SEQ = 'Crossing'  # in got10k's OTB2013 list
FRAMES = 20

# got10k writes result boxes with '%.3f'; the harness keeps its boxes as they
# read back from its own 3-decimal OTB files (`results.as_written`). Both round
# the same float32 box, so they differ by at most one rounding step (1e-3 px,
# a tie rounded differently) plus float32 storage of ~100 px values (< 1e-5).
BOX_ATOL = 1e-3 + 1e-5


@pytest.fixture(scope='module')
def got10k_otb():
  try:
    from got10k.datasets import OTB  # pylint: disable=g-import-not-at-top
    from got10k.experiments.otb import ExperimentOTB  # pylint: disable=g-import-not-at-top
    from got10k.utils import metrics as got_metrics  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    pytest.skip(f'the got10k toolkit is not importable ({e}); pip install got10k six')
  return OTB, ExperimentOTB, got_metrics


def _tiny_otb(root: pathlib.Path, otb_cls) -> pathlib.Path:
  """An OTB-layout root got10k's ExperimentOTB accepts without downloading.

  ExperimentOTB constructs its dataset with ``download=True``, which downloads
  every sequence of the version unless all their folders exist; it then reads
  only folders with a ground-truth file. So: one real sequence (`SEQ`, a box
  moving over noise) and an empty folder for every other name of the version.
  """
  rows = np.array([[30.0 + 2 * t, 25.0 + t, 24, 30] for t in range(FRAMES)])
  fake_datasets.write_otb_sequence(root, SEQ, rows, size=(96, 128))
  for name in otb_cls._OTB__version_dict[VERSION]:  # pylint: disable=protected-access
    (root / name).mkdir(exist_ok=True)
  return root / SEQ


def _slack(values_a, values_b, thresholds, tol) -> int:
  """Frames whose value could fall on either side of a threshold within `tol`."""
  both = np.stack([values_a, values_b])
  near = np.abs(both[..., None] - thresholds).min(axis=-1) <= tol
  return int(np.sum(near.any(axis=0)))


def test_experiment_otb_matches_the_harness(steady, tmp_path, got10k_otb):
  otb_cls, experiment_cls, got_metrics = got10k_otb
  params, config = steady
  seq_dir = _tiny_otb(tmp_path / 'otb', otb_cls)

  adapter = got10k_tracker.Re3Got10kTracker(tracker_lib.Re3Tracker(params, config), name='Re3Tiny')
  experiment = experiment_cls(str(tmp_path / 'otb'), version=VERSION,
                              result_dir=str(tmp_path / 'results'),
                              report_dir=str(tmp_path / 'reports'))
  assert experiment.dataset.seq_names == [SEQ]
  experiment.run(adapter)
  report = experiment.report([adapter.name])
  record = tmp_path / 'results' / f'OTB{VERSION}' / adapter.name / f'{SEQ}.txt'
  theirs = np.loadtxt(record, delimiter=',')
  with open(tmp_path / 'reports' / f'OTB{VERSION}' / adapter.name / 'performance.json') as f:
    assert json.load(f)[adapter.name]['overall']['success_score'] == pytest.approx(
        report[adapter.name]['overall']['success_score'])

  # The project's harness on the same frames and boxes, with a fresh tracker.
  seq = sequences.open_sequence(seq_dir)
  assert len(seq) == FRAMES
  run = protocols.run_ope(protocols.Re3SingleTracker(tracker_lib.Re3Tracker(params, config)), seq)
  ours = metrics.ope(run.boxes, seq.boxes)

  # (1) The boxes: got10k's file, 1-based x, y, w, h, against the harness's xyxy.
  assert theirs.shape == (FRAMES, 4)
  ours_xywh = boxes_lib.to_otb(run.boxes.astype(np.float64))
  np.testing.assert_allclose(theirs, ours_xywh, rtol=0, atol=BOX_ATOL)
  assert np.ptp(theirs[:, 0]) > 1  # the boxes move: not a trivially constant run

  # (2) The scores. Per frame, IoU and centre error move by at most about the
  # boxes' difference over their size (IoU: sum of |coordinate changes| times
  # (1/w + 1/h) <= 4 * BOX_ATOL * (1/w + 1/h) of the smallest box; centre error:
  # BOX_ATOL) plus got10k's eps in the union. A score can only differ through
  # frames that land that close to a threshold: each such frame moves one
  # success bin by 1/T (the score by 1/(21 T)), or P@20 by 1/T.
  anno = np.loadtxt(seq_dir / 'groundtruth_rect.txt', delimiter=',')
  got_boxes = theirs.copy()
  got_boxes[0] = anno[0]  # as ExperimentOTB.report does
  got_ious = got_metrics.rect_iou(got_boxes, anno)
  got_ces = got_metrics.center_error(got_boxes, anno)
  ours_ious = metrics.iou(run.boxes, seq.boxes)
  ours_ces = metrics.center_error(run.boxes, seq.boxes)
  min_side = min(np.min(theirs[:, 2:]), np.min(anno[:, 2:]))
  iou_tol = 4 * BOX_ATOL * 2 / min_side + 1e-9
  ce_tol = 2 * BOX_ATOL
  np.testing.assert_allclose(got_ious, ours_ious, rtol=0, atol=iou_tol)
  np.testing.assert_allclose(got_ces, ours_ces, rtol=0, atol=ce_tol)
  iou_slack = _slack(got_ious, ours_ious, metrics.SUCCESS_THRESHOLDS, iou_tol)
  ce_slack = _slack(got_ces, ours_ces, np.array([metrics.PRECISION_PIXELS], float), ce_tol)

  overall = report[adapter.name]['overall']
  seq_wise = report[adapter.name]['seq_wise'][SEQ]
  assert ours.frames == FRAMES
  for got in (overall, seq_wise):
    assert got['success_score'] == pytest.approx(
        ours.success_score, abs=iou_slack / (21 * FRAMES) + 1e-12)
    assert got['precision_score'] == pytest.approx(
        ours.precision_score, abs=ce_slack / FRAMES + 1e-12)
  np.testing.assert_allclose(overall['success_curve'], ours.success_curve,
                             atol=iou_slack / FRAMES + 1e-12)
  np.testing.assert_allclose(overall['precision_curve'], ours.precision_curve,
                             atol=_slack(got_ces, ours_ces, metrics.PRECISION_THRESHOLDS, ce_tol)
                             / FRAMES + 1e-12)


def test_adapter_converts_boxes_and_images(steady):
  """init takes got10k's 1-based x, y, w, h and a PIL image; update answers the same way."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pytest.importorskip('got10k')
  params, config = steady
  rng = np.random.default_rng(0)
  frames = [rng.integers(0, 255, (64, 80, 3), dtype=np.uint8) for _ in range(3)]
  box = np.array([11.0, 21.0, 20.0, 16.0])  # x, y, w, h, 1-based

  adapter = got10k_tracker.Re3Got10kTracker(tracker_lib.Re3Tracker(params, config))
  assert adapter.name == 'Re3' and adapter.is_deterministic
  direct = tracker_lib.Re3Tracker(params, config)
  adapter.init(Image.fromarray(frames[0]), box)
  direct.track('t', frames[0], [10.0, 20.0, 30.0, 36.0])  # the same box in xyxy, 0-based
  for frame in frames[1:]:
    got = adapter.update(Image.fromarray(frame))
    want = direct.track('t', frame)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, boxes_lib.to_otb(np.asarray(want, np.float64)), atol=1e-6)


def test_adapter_keeps_the_last_boxs_score(scored, tiny):
  """got10k's update returns a box only: the score of the box is the adapter's `score`."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pytest.importorskip('got10k')
  rng = np.random.default_rng(1)
  frames = [rng.integers(0, 255, (64, 80, 3), dtype=np.uint8) for _ in range(4)]
  box = np.array([11.0, 21.0, 30.0, 26.0])  # x, y, w, h, 1-based

  adapter = got10k_tracker.Re3Got10kTracker(tracker_lib.Re3Tracker(*scored))
  assert np.isnan(adapter.score)  # before init
  direct = tracker_lib.Re3Tracker(*scored)
  adapter.init(Image.fromarray(frames[0]), box)
  _, want = direct.track('t', frames[0], boxes_lib.from_otb(box), with_score=True)
  assert adapter.score == want and adapter.score == pytest.approx(1.0, abs=1e-5)
  seen = []
  for frame in frames[1:]:
    got = adapter.update(Image.fromarray(frame))
    want_box, want = direct.track('t', frame, with_score=True)
    np.testing.assert_allclose(got, boxes_lib.to_otb(np.asarray(want_box, np.float64)),
                               atol=1e-6)
    assert isinstance(adapter.score, float) and adapter.score == pytest.approx(want, abs=1e-6)
    seen.append(adapter.score)
  assert max(seen) < 1 - 1e-4  # each update's own score, not the start's
  # A model without a score (the tiny one has no correlation): NaN.
  plain = got10k_tracker.Re3Got10kTracker(tracker_lib.Re3Tracker(*tiny))
  plain.init(Image.fromarray(frames[0]), box)
  plain.update(Image.fromarray(frames[1]))
  assert np.isnan(plain.score)


def test_without_got10k_construction_says_how_to_install(monkeypatch):
  monkeypatch.setattr(got10k_tracker, '_GOT10K_ERROR', ImportError('No module named got10k'))
  with pytest.raises(ImportError, match='pip install got10k'):
    got10k_tracker.Re3Got10kTracker(tracker=object())
  # got10k installed without six, which it imports but does not declare: six is named.
  monkeypatch.setattr(got10k_tracker, '_GOT10K_ERROR',
                      ModuleNotFoundError("No module named 'six'", name='six'))
  with pytest.raises(ImportError, match=r'toolkit: pip install six \(No module named'):
    got10k_tracker.Re3Got10kTracker(tracker=object())
