"""Tests of confidence scores and absent frames through the evaluation harness: `Scored`
updates recorded per frame, the ``_scores.txt`` files, the absent mask and its ranges in
``results.json``, the lost-frame and VOT-LT measures of a run checked against a case
computed by hand, "no score" for trackers without one, errors naming the frame, the absent
frames of the shared real sequences, and ``--score_threshold`` on the command line."""

from __future__ import annotations

import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from re3_jax.datasets import dataset_roots
from re3_jax.datasets import layouts
from re3_jax.evaluation import baselines
from re3_jax.evaluation import harness
from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import protocols
from re3_jax.evaluation import results
from re3_jax.testing import fake_datasets

from tests.evaluation.test_harness import REPO, TRUTH, ScriptedTracker, make_sequence


class ScoredTracker(ScriptedTracker):
  """`ScriptedTracker` returning `Scored` boxes with the score of `scores[frame index]`."""
  score_kind = 'a scripted score'

  def __init__(self, scores, lose=()):
    super().__init__(lose)
    self.scores = scores

  def update(self, frame):
    return protocols.Scored(super().update(frame), self.scores[self.index(frame)])


# Eight frames, target absent at 5 and 6 (NaN truth); the tracker loses frame 3 (IoU 0) and
# returns the true box elsewhere (IoU 1). Scores per frame (frame 0 is the start: none):
SCORES = [None, 0.9, 0.8, 0.2, 0.7, 0.1, 0.75, 0.6]
# Lost = absent or IoU < 0.1: frames 3, 5, 6 (scores 0.2, 0.1, 0.75); kept 1, 2, 4, 7
# (0.9, 0.8, 0.7, 0.6). AUC: 0.9 and 0.8 beat all three lost scores (3 + 3), 0.7 and 0.6
# beat 0.2 and 0.1 (2 + 2): 10 of 12 pairs = 5/6.
# Flag score < 0.5: frames 3 and 5, both lost: precision 1, recall 2/3.
# VOT-LT: overlaps 1, 1, 0, 1, 0 (absent), 0 (absent), 1 at frames 1..7; N_g = 5 present.
# Descending scores 0.9 (1), 0.8 (1), 0.75 (0), 0.7 (1), 0.6 (1), 0.2 (0), 0.1 (0):
#   tau 0.9: Pr 1, Re 0.2, F 0.333;   0.8: Pr 1, Re 0.4, F 0.571;  0.75: Pr 2/3, Re 0.4, F 0.5
#   tau 0.7: Pr 3/4, Re 0.6, F 0.667; 0.6: Pr 4/5, Re 0.8, F 0.8;  0.2: Pr 4/6, Re 0.8, F 0.727
#   tau 0.1: Pr 4/7, Re 0.8, F 0.667.   Best: F 0.8 at tau 0.6 (Pr 0.8, Re 0.8).
HAND = {'auc': 5 / 6, 'precision': 1.0, 'recall': 2 / 3, 'lost': 3, 'absent': 2, 'frames': 7}
HAND_LT = {'f_score': 0.8, 'precision': 0.8, 'recall': 0.8, 'threshold': 0.6}
TOL = 1e-12  # a few float64 sums and one division on values of order 1


def test_scores_and_absent_frames_through_the_harness(tmp_path):
  seq = make_sequence(tmp_path / 'a', 8, missing=(5, 6))
  trackers = {'scored': ScoredTracker(SCORES, lose={3}), 'plain': ScriptedTracker(lose={3})}
  lines = []
  report = harness.run(trackers, [seq], tmp_path / 'out', log=lines.append, score_threshold=0.5)
  out = tmp_path / 'out'
  run = report.results[('scored', 'ope')][0].run
  np.testing.assert_array_equal(run.absent, [0, 0, 0, 0, 0, 1, 1, 0])
  np.testing.assert_array_equal(np.isnan(run.scores), [1, 0, 0, 0, 0, 0, 0, 0])
  # The scores file holds what was returned, exactly (repr), nan at the start frame.
  written = results.read_scores(out / 'scored/otb/a_scores.txt')
  np.testing.assert_array_equal(written[1:], SCORES[1:])
  assert np.isnan(written[0])
  assert not (out / 'plain/otb/a_scores.txt').exists()  # no score, no file
  saved = json.loads((out / 'results.json').read_text())
  per_seq = saved['trackers']['scored']['ope']['sequences']['a']
  assert per_seq['absent_frames'] == 2 and per_seq['absent'] == [[5, 6]]
  lost, lt = per_seq['scores']['lost'], per_seq['scores']['longterm']
  for key, value in HAND.items():
    assert lost[key] == pytest.approx(value, abs=TOL), key
  for key, value in HAND_LT.items():
    assert lt[key] == pytest.approx(value, abs=TOL), key
  # One sequence: the overall figures are the sequence's.
  overall = saved['trackers']['scored']['ope']['overall']['scores']
  assert overall['lost']['auc'] == pytest.approx(5 / 6, abs=TOL)
  assert overall['longterm']['f_score'] == pytest.approx(0.8, abs=TOL)
  plain = saved['trackers']['plain']['ope']['sequences']['a']['scores']
  assert plain['has_score'] is False and plain['lost']['auc'] is None
  assert plain['longterm']['f_score'] is None and plain['lost']['lost'] == 3
  assert saved['info']['scores']['kinds'] == {'scored': 'a scripted score', 'plain': 'no score'}
  assert saved['info']['scores']['score_threshold'] == 0.5
  assert saved['info']['absent_frames'] == {'a': 2}
  # The OTB success leaves absent frames out: 6 scored frames, one of them lost.
  assert saved['trackers']['scored']['ope']['sequences']['a']['ope']['frames'] == 6
  table = report.table()
  assert 'Confidence scores (one-pass runs)' in table
  score_lines = table.split('Confidence scores')[1].splitlines()
  row = next(l for l in score_lines if l.startswith('scored') and ' a ' in l).split()
  assert row[2:] == ['7', '2', '3', '0.833', '1.000', '0.667', '0.800', '0.800', '0.800', '0.6']
  assert any(l.startswith('plain') and 'no score' in l for l in score_lines)
  assert 'lost AUC 0.833, LT F 0.800 (3 lost frames, 2 absent)' in lines[0]
  for png in ('lost_roc.png', 'lt_precision_recall.png'):
    assert (out / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_without_any_score_the_report_is_as_before(tmp_path):
  seq = make_sequence(tmp_path / 'a', 5, missing=(2,))
  report = harness.run({'plain': ScriptedTracker()}, [seq], tmp_path / 'out', log=lambda _: None)
  assert 'Confidence scores' not in report.table()
  assert not (tmp_path / 'out/lost_roc.png').exists()
  saved = json.loads((tmp_path / 'out/results.json').read_text())
  assert saved['trackers']['plain']['ope']['sequences']['a']['absent'] == [[2, 2]]


def test_a_score_at_some_updates_only_or_not_finite_fails_the_sequence_naming_the_frame(tmp_path):
  seq = make_sequence(tmp_path / 'a', 5)
  mixed = ScoredTracker([None, 0.5, 0.5, 0.5, 0.5])
  mixed.update = lambda frame, t=mixed: (
      ScriptedTracker.update(t, frame) if t.index(frame) == 3 else
      protocols.Scored(ScriptedTracker.update(t, frame), 0.5))
  with pytest.raises(harness.SequenceFailed,
                     match='score at frame 1 but none at frame 3: a tracker returns Scored'):
    harness.run({'mixed': mixed}, [seq], tmp_path / 'out', fail_fast=True, log=lambda _: None)
  with pytest.raises(harness.SequenceFailed, match=r"frame 2: the tracker's score is nan, not a"):
    harness.run({'nan': ScoredTracker([None, 0.5, math.nan, 0.5, 0.5])}, [seq],
                tmp_path / 'out2', fail_fast=True, log=lambda _: None)


def test_withheld_truth_is_not_scored_as_absent(tmp_path):
  # A GOT-10k test sequence: only the first box; the rest is unknown, not absent.
  seq = make_sequence(tmp_path / 'a', 4, missing=(1, 2, 3))
  report = harness.run({'s': ScoredTracker([None, 0.1, 0.2, 0.3])}, [seq], tmp_path / 'out',
                       log=lambda _: None)
  scores = report.results[('s', 'ope')][0].scores
  assert scores.lost.frames == 0 and not scores.lost.has_score
  assert scores.longterm.frames == 0


# The shared real sequences: the NaN rows of their ground truth, counted from the files with
# plain text matching (independent of the readers), become the absent mask.
ABSENT_SEQUENCES = {'val/uav_group2': 5, 'train/uav_group3': 43, 'train/uav_person9': 12}


@pytest.mark.parametrize('where', sorted(ABSENT_SEQUENCES))
def test_absent_frames_of_the_shared_sequences(where):
  folder = REPO.parent / 'shared' / 'real_sequences' / where
  if not folder.is_dir():
    pytest.skip(f'{folder} is not here (the shared real sequences)')
  lines = (folder / 'groundtruth_rect.txt').read_text().splitlines()
  nan_rows = [i for i, l in enumerate(lines) if 'nan' in l.lower()]
  assert len(nan_rows) == ABSENT_SEQUENCES[where]
  [seq] = dataset_roots.select(layouts.open_dataset(f'otb:{folder.parent}').sequences,
                          [folder.name], 'shared')
  np.testing.assert_array_equal(np.flatnonzero(lost_metrics.absent(seq.boxes)), nan_rows)


def test_command_line_score_threshold(tmp_path):
  if not baselines.available('opencv_csrt'):
    pytest.skip('opencv_csrt needs opencv-contrib-python-headless')
  boxes = [[20.0, 20, 16, 16]] * 6
  boxes[3] = [math.nan] * 4
  fake_datasets.write_otb_sequence(tmp_path / 'otb', 'a', boxes, size=(64, 64))
  out = tmp_path / 'out'
  command = [sys.executable, '-m', 're3_jax.evaluate', '--tracker=opencv_csrt',
             f'--dataset=otb:{tmp_path / "otb"}', '--score_threshold=0.25', f'--out={out}',
             '--noprogress']
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'lost_roc.png, lt_precision_recall.png' in result.stdout
  saved = json.loads((out / 'results.json').read_text())
  assert saved['info']['scores']['score_threshold'] == 0.25
  per_seq = saved['trackers']['opencv_csrt']['ope']['sequences']['a']
  assert per_seq['absent'] == [[3, 3]] and per_seq['scores']['lost']['threshold'] == 0.25
  assert set(results.read_scores(out / 'opencv_csrt/otb/a_scores.txt')[1:]) <= {0.0, 1.0}
