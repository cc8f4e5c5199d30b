"""OTB's spatial robustness evaluation: the 12 starts against hand-computed ones, and the
harness's SRE runs.

The expected starts are worked by hand from OTB's MATLAB toolkit (``shiftInitBB.m``: shifts
by ``ceil(0.1 * w)``, corners pushed out by ``round(0.1 * w)``, scales about the centre
``[x + w/2, y + h/2]`` rounded, MATLAB's ``round`` taking halves away from zero, then the
clipping), in its 1-based ``[x, y, w, h]``; they are exact integers, so they are compared
exactly.
"""

import json
import pathlib

import numpy as np
import pytest

from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import harness
from re3_jax.evaluation import sre

from tests.evaluation.test_harness import ScriptedTracker, TRUTH, make_sequence

# A 40x30 box at (11, 21) (1-based) in a 200-wide, 100-high image: br = (50, 50), centre
# (31, 36); 10% of the size: 4 and 3 pixels.
RECT = (11, 21, 40, 30)
EXPECTED = {
    'left': (7, 21, 40, 30),             # 11 - ceil(4)
    'right': (15, 21, 40, 30),
    'up': (11, 18, 40, 30),              # 21 - ceil(3)
    'down': (11, 24, 40, 30),
    'topLeft': (7, 18, 44, 33),          # corner (7, 18), br kept: 50 - 7 + 1, 50 - 18 + 1
    'topRight': (11, 18, 44, 33),        # br_x = 54
    'bottomLeft': (7, 21, 44, 33),       # br_y = 53
    'bottomRight': (11, 21, 44, 33),
    'scale_8': (15, 24, 32, 24),         # w, h = 32, 24: (31 - 16, 36 - 12)
    'scale_9': (13, 23, 36, 27),         # h = 27: 36 - 13.5 = 22.5 -> 23 (half away from 0)
    'scale_11': (9, 20, 44, 33),         # 36 - 16.5 = 19.5 -> 20
    'scale_12': (7, 18, 48, 36),
}


def test_the_twelve_starts_are_otbs():
  assert set(EXPECTED) == set(sre.SHIFTS) and len(sre.SHIFTS) == 12
  for shift, want in EXPECTED.items():
    np.testing.assert_array_equal(sre.shift_rect(RECT, shift, 100, 200), want, err_msg=shift)


def test_starts_are_clipped_as_the_toolkit_clips():
  # At the left edge the box is moved back to x = 1, its width kept; at the right edge the
  # width is cut to end at the last column: 183 + 18 - 1 = 200.
  np.testing.assert_array_equal(sre.shift_rect((1, 1, 20, 10), 'left', 100, 200), (1, 1, 20, 10))
  np.testing.assert_array_equal(sre.shift_rect((181, 91, 20, 10), 'right', 100, 200),
                                (183, 91, 18, 10))
  np.testing.assert_array_equal(sre.shift_rect((181, 91, 20, 10), 'bottomRight', 100, 200),
                                (181, 91, 20, 10))  # br (203, 101) cut to (200, 100)


def test_start_box_converts_from_and_to_xyxy():
  box = boxes_lib.from_otb(np.array(RECT, np.float32))  # 0-based xyxy (10, 20, 50, 50)
  np.testing.assert_array_equal(box, (10, 20, 50, 50))
  for shift, want in EXPECTED.items():
    np.testing.assert_array_equal(sre.start_box(box, shift, (100, 200)),
                                  boxes_lib.from_otb(np.array(want, np.float32)), err_msg=shift)


def test_bad_shift_or_a_start_outside_the_image_is_named():
  with pytest.raises(ValueError, match="unknown SRE shift 'diagonal'; known: left"):
    sre.shift_rect(RECT, 'diagonal', 100, 200)
  with pytest.raises(ValueError, match=r'SRE start right of the box \[250.0'):
    sre.start_box(np.array([250.0, 10, 260, 20]), 'right', (100, 200))


def test_the_harness_runs_twelve_starts_per_sequence(tmp_path):
  # 40x40 frames, the true box (10, 10, 30, 30): OTB (11, 11, 20, 20); the tracker returns
  # the true box at every update, so every start frame's box is the start given and every
  # other frame's overlap is 1.
  seqs = [make_sequence(tmp_path / 'a', 8), make_sequence(tmp_path / 'b', 5)]
  tracker = ScriptedTracker()
  lines = []
  report = harness.run({'t': tracker}, seqs, tmp_path / 'out', protocols=('ope', 'sre'),
                       log=lines.append)
  inits = [c for c in tracker.calls if c[0] == 'init']
  # Per sequence: a warm-up, the OPE start, then the 12 SRE starts in the toolkit's order.
  rect = boxes_lib.to_otb(TRUTH)
  want = [boxes_lib.from_otb(sre.shift_rect(rect, s, 40, 40)).tolist() for s in sre.SHIFTS]
  assert [c[2] for c in inits[2:14]] == want
  assert len(inits) == 2 * 14
  assert lines[1].startswith('[2/4] t sre a: 8 frames') and '12 starts' in lines[1]
  saved = json.loads((tmp_path / 'out/results.json').read_text())
  assert saved['info']['sre']['starts'] == list(sre.SHIFTS)
  sre_runs = saved['trackers']['t']['sre']
  assert len(sre_runs['sequences']) == 24 and 'a scale_8' in sre_runs['sequences']
  assert sre_runs['overall']['sequences'] == 2 and sre_runs['overall']['runs'] == 24
  # Each run's success (OTB: the fraction of thresholds 0, 0.05, ..., 1 that the IoU
  # exceeds, over frames): frames 1.. are exact (IoU 1: 20 of the 21 thresholds), the start
  # frame scores its start box's IoU with the truth; the overall is the mean over the 24 runs.
  ious = {s: float(boxes_lib.iou(np.array(w), TRUTH)) for s, w in zip(sre.SHIFTS, want)}
  thresholds = np.linspace(0, 1, 21)
  for name, n in (('a', 8), ('b', 5)):
    for s in sre.SHIFTS:
      start = np.mean(ious[s] > thresholds)
      expected = (start + (n - 1) * 20 / 21) / n
      got = sre_runs['sequences'][f'{name} {s}']['ope']['success_score']
      assert got == pytest.approx(expected, abs=1e-6), (name, s)
  mean = np.mean([r['ope']['success_score'] for r in sre_runs['sequences'].values()])
  assert sre_runs['overall']['ope']['success_score'] == pytest.approx(mean, abs=1e-9)
  # Result files, one folder per start; the written start box is the start given (1-based).
  out = tmp_path / 'out/t/sre'
  assert sorted(p.name for p in out.iterdir()) == sorted(sre.SHIFTS)
  first = (out / 'scale_12/a.txt').read_text().splitlines()[0]
  np.testing.assert_allclose([float(v) for v in first.split(',')],
                             sre.shift_rect(rect, 'scale_12', 40, 40))
  assert 'OVERALL (2, 24 runs)' in report.table()
