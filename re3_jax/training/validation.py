"""What a training run validates on (`loop.TrainConfig`'s ``eval_*`` settings): held-out
procedural clips (`validation_clips`) or a dataset's sequences, tracked and scored as the
evaluation harness scores them; `make_validation` is `loop.train`'s default hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import jax.numpy as jnp
import numpy as np

from re3_jax.datasets import layouts
from re3_jax.evaluation import metrics
from re3_jax.evaluation import protocols
from re3_jax.input import synthetic
from re3_jax.tracking import functional
from re3_jax.tracking import tracker

if TYPE_CHECKING:
  from re3_jax.training import loop

VALIDATION_SEED = 1 << 30  # procedural validation clips never come from the training stream


def validation_clips(n: int, frames: int, size=(240, 320)):
  """Held-out procedural clips: (frames uint8 (n, T, H, W, 3), boxes (n, T, 4))."""
  clips = [synthetic.procedural_sequence(np.random.default_rng([VALIDATION_SEED, i]), frames,
                                         size=size) for i in range(n)]
  return np.stack([c[0] for c in clips]), np.stack([c[1] for c in clips])


def make_validation(config: loop.TrainConfig) -> Callable[[Any], dict[str, float]]:
  """The default validation hook: `config.eval_dataset`'s sequences, or procedural clips.

  A dataset is tracked one object at a time through the per-frame tracker and
  scored by the evaluation harness's code (`protocols.run_ope`, `metrics.ope`):
  ``val_success`` (OTB success, 21 thresholds) and ``val_precision`` (at 20
  px), averaged over sequences. Without one, held-out procedural clips give
  ``val_mean_iou`` and ``val_sr50``.
  """
  model_config = config.model_config()
  if config.eval_dataset:
    seqs = list(layouts.open_dataset(config.eval_dataset).sequences)

    def hook(params) -> dict[str, float]:
      single = protocols.Re3SingleTracker(tracker.Re3Tracker(params, model_config))
      runs = [protocols.run_ope(single, seq) for seq in seqs]
      score = metrics.ope_average([metrics.ope(r.boxes, s.boxes) for r, s in zip(runs, seqs)])
      return {'val_success': float(score.success_score),
              'val_precision': float(score.precision_score)}
    return hook

  frames, true = validation_clips(config.eval_clips, config.eval_frames)
  frames = jnp.asarray(frames)

  def hook(params) -> dict[str, float]:
    boxes = [np.asarray(functional.track_video(params, f, b[0], config=model_config))
             for f, b in zip(frames, true)]
    scores = metrics.got10k_pooled(boxes, list(true))  # frames 1.. of every clip, pooled
    return {'val_mean_iou': scores.ao, 'val_sr50': scores.sr50}
  return hook
