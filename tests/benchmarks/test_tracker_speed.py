"""The tracker benchmark's measurements (not speed: figures live in WORKSPACE.md)."""

import json

import pytest

from re3_jax.benchmarks import tracker_speed
from re3_jax.tracking import tracker_config


def test_rows_hold_every_rate_and_nanotrack_beside_them(nanotrack_dir, tmp_path):
  out = tmp_path / 'tracker.json'
  tracker = tracker_config.TrackerConfig(random_model='tiny', precision='bf16_weights',
                                         reset_interval=2)
  report = tracker_speed.run_tracker_benchmark([tracker], [2], 4, 1, out,
                                               nanotrack_dir=nanotrack_dir)
  row, = report['results']
  assert (row['config'], row['precision'], row['reset_interval']) == ('tiny', 'bf16_weights', 2)
  assert row['weights'] == "RANDOM weights of model config 'tiny', seed 0"
  for key in ('per_frame_fps', 'object_frames_per_s_2', 'track_video_fps', 'nanotrack_fps'):
    assert row[key] > 0, key
  assert row['speed_vs_nanotrack'] == pytest.approx(row['per_frame_fps'] / row['nanotrack_fps'])
  assert json.loads(out.read_text()) == report
  assert 'NanoTrack' in tracker_speed.format_row(row, [2])
