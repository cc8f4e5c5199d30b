"""The training batch: ``B`` sequences of ``T`` frames, padded to one canvas, with true boxes.

`collate` makes one from the pipeline's sequences on the host; the train step
takes the same tuple as device arrays (`re3_jax.training.train_step.shard_batch`).
NumPy only, so the train step's import path holds no input machinery.

A batch holds what the train step reads and nothing else. Where each sequence came
from (its ``'source'``: its index in ``PipelineConfig.mixture``) stays with the
sequence that `pipeline.SequenceMaker` makes, beside the batch: nothing in training
reads it (the mixture's tests do).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np


class Batch(NamedTuple):
  """One host's batch; a pytree of NumPy arrays.

  Attributes:
    frames: uint8 ``(B, T, H, W, 3)`` RGB frames, zero-padded to the canvas
      ``(H, W)`` at the bottom and right.
    valid_sizes: int32 ``(B, T, 2)``: each frame's ``(height, width)`` before
      padding.
    boxes: float32 ``(B, T, 4)``: the true box in each frame, xyxy pixels.
  """
  frames: np.ndarray
  valid_sizes: np.ndarray
  boxes: np.ndarray


def collate(sequences: Sequence[dict[str, Any]], frame_size: tuple[int, int]) -> Batch:
  """Pads and stacks sequences (dicts of ``'frames'``, a list of T RGB uint8 arrays, and
  ``'boxes'``, (T, 4); other keys are not read) into a `Batch` (one copy of every frame)."""
  b, t = len(sequences), len(sequences[0]['frames'])
  frames = np.zeros((b, t, *frame_size, 3), np.uint8)
  valid = np.zeros((b, t, 2), np.int32)
  for i, seq in enumerate(sequences):
    for j, frame in enumerate(seq['frames']):
      h, w = frame.shape[:2]
      frames[i, j, :h, :w] = frame
      valid[i, j] = h, w
  return Batch(frames=frames, valid_sizes=valid, boxes=np.stack([s['boxes'] for s in sequences]))
