"""Tests of what a training run validates on (`re3_jax.training.validation`)."""

import jax
import numpy as np
import pytest

from re3_jax import model
from re3_jax.datasets import layouts
from re3_jax.evaluation import metrics
from re3_jax.evaluation import protocols
from re3_jax.testing import fake_datasets
from re3_jax.tracking import tracker
from re3_jax.training import loop
from re3_jax.training import validation

CONFIG = loop.TrainConfig(model='tiny', eval_every=1, eval_clips=2, eval_frames=3)


def test_validation_clips_are_held_out_and_fixed():
  frames, boxes = validation.validation_clips(2, 3, size=(48, 64))
  assert frames.shape == (2, 3, 48, 64, 3) and frames.dtype == np.uint8
  assert boxes.shape == (2, 3, 4)
  again, _ = validation.validation_clips(2, 3, size=(48, 64))
  np.testing.assert_array_equal(frames, again)


def test_procedural_validation_scores_the_clips():
  params = model.init(jax.random.key(0), CONFIG.model_config())
  scores = validation.make_validation(CONFIG)(params)
  assert set(scores) == {'val_mean_iou', 'val_sr50'}
  assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_validation_on_a_dataset_scores_it_as_the_harness_does(tmp_path):
  """eval_dataset: one-pass OTB success and P@20 of the tracker, averaged over sequences."""
  for k in range(2):
    rows = [(5.0 + 2 * t + k, 6.0 + t, 16.0, 12.0) for t in range(6)]
    fake_datasets.write_otb_sequence(tmp_path / 'val', f's{k}', rows, seed=k)
  config = CONFIG.replace(eval_dataset=f'otb:{tmp_path / "val"}')
  params = model.init(jax.random.key(0), config.model_config())
  scores = validation.make_validation(config)(params)
  assert set(scores) == {'val_success', 'val_precision'}
  # The same tracker through the evaluation harness's run gives the same mean.
  seqs = layouts.open_dataset(config.eval_dataset).sequences
  runs = [protocols.run_ope(protocols.Re3SingleTracker(
      tracker.Re3Tracker(params, config.model_config())), s) for s in seqs]
  mean = metrics.ope_average([metrics.ope(r.boxes, s.boxes) for r, s in zip(runs, seqs)])
  assert scores['val_success'] == pytest.approx(mean.success_score)
  assert scores['val_precision'] == pytest.approx(mean.precision_score)
