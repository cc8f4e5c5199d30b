r"""Tracks a clip end to end: ``python -m re3_jax.demo [--flags]``.

By default it makes a procedural synthetic clip (no download), loads the
model shipped with the package (`shipped.PRETRAINED`; or what the ``--tracker.*`` flags
of `tracker_config.TrackerConfig` name: ``--tracker.checkpoint``, random weights of
``--tracker.random_model``), tracks the object frame
by frame through `Re3Tracker`, prints frames/s and the mean IoU with the
ground truth, and writes the boxes (JSON) and a contact sheet of frames with
the tracked (red) and true (green) boxes (PNG, `drawing.contact_sheet`) to
--out. ``--sequence`` takes a real OTB/VOT sequence folder instead (README's
picture: ``--sequence=../shared/sequences/otb_crossing``).
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import flags
import jax
import numpy as np
from PIL import Image

from re3_jax import cli
from re3_jax.core import boxes as boxes_lib
from re3_jax.media import drawing
from re3_jax.datasets import sequences
from re3_jax.media import synthetic_clips
from re3_jax.tracking import tracker as tracker_lib
from re3_jax.tracking import tracker_config

_TRACKER = cli.define_tracker_flags()
_SEQUENCE = flags.DEFINE_string('sequence', None, 'An OTB/VOT sequence folder instead of the '
                                'synthetic clip.')
_FRAMES = flags.DEFINE_integer('frames', 120, 'Frames of the synthetic clip.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the synthetic clip (--tracker.seed: of '
                             'random weights).')
_OUT = flags.DEFINE_string('out', 'demo_out', 'Output folder.')


def run(seq: sequences.Sequence, tracker: tracker_lib.Re3Tracker, out: pathlib.Path) -> dict:
  """Tracks `seq` from its first true box; writes outputs to `out`; returns a summary."""
  out.mkdir(parents=True, exist_ok=True)
  predicted = [tracker.track('object', seq.frames[0], seq.boxes[0])]
  predicted.append(tracker.track('object', seq.frames[1]))  # compiles
  start = time.perf_counter()
  for frame in seq.frames[2:]:
    predicted.append(tracker.track('object', frame))
  fps = (len(seq.frames) - 2) / (time.perf_counter() - start)
  predicted = np.stack(predicted)
  ious = boxes_lib.iou(predicted, seq.boxes)
  summary = {'sequence': seq.name, 'frames': len(seq.frames), 'fps': fps,
             'mean_iou': float(ious[1:].mean()), 'all_finite': bool(np.isfinite(predicted).all()),
             'config': tracker.config.name, 'backend': jax.default_backend()}
  (out / 'boxes.json').write_text(json.dumps({'boxes_xyxy': predicted.tolist(), **summary}))
  sheet = drawing.contact_sheet([(seq.frames, seq.boxes, predicted)],
                                thumb=max(seq.frames.shape[1:3]))
  Image.fromarray(sheet).save(out / 'contact_sheet.png')
  return summary


def main(argv):
  del argv
  config = _TRACKER()
  if not (config.checkpoint or config.random_model):
    print(f're3_jax.demo: tracking with {config.describe()}', flush=True)
  tracker = tracker_config.build_tracker(config)
  if _SEQUENCE.value:
    seq = sequences.load_sequence(_SEQUENCE.value)
  else:
    seq = synthetic_clips.synthetic_clip(_FRAMES.value, seed=_SEED.value)
  summary = run(seq, tracker, pathlib.Path(_OUT.value))
  print(f'{summary["sequence"]}: {summary["frames"]} frames, {summary["fps"]:.1f} frames/s '
        f'({summary["backend"]}, model {summary["config"]}), mean IoU {summary["mean_iou"]:.3f}; '
        f'wrote {_OUT.value}/boxes.json and contact_sheet.png')


if __name__ == '__main__':
  cli.run(main)
