"""The tracker benchmark's measurements (not speed: figures live in WORKSPACE.md)."""

import json

import pytest

from re3_jax.benchmarks import tracker_speed


def test_rows_hold_every_rate_and_nanotrack_beside_them(nanotrack_dir, tmp_path):
  out = tmp_path / 'tracker.json'
  report = tracker_speed.run_tracker_benchmark(['tiny'], ['float32'], [2], 4, 1, out,
                                               nanotrack_dir=nanotrack_dir)
  row, = report['results']
  for key in ('per_frame_fps', 'object_frames_per_s_2', 'track_video_fps', 'nanotrack_fps'):
    assert row[key] > 0, key
  assert row['speed_vs_nanotrack'] == pytest.approx(row['per_frame_fps'] / row['nanotrack_fps'])
  assert json.loads(out.read_text()) == report
  assert 'NanoTrack' in tracker_speed.format_row(row, [2])
