"""Tests of re3_jax.datasets.tracks: VID and ALOV track assembly, clipping, skip counts."""

from __future__ import annotations

import numpy as np

from re3_jax.datasets import annotations as an
from re3_jax.datasets import tracks as tracks_lib


def _obj(trackid, box, name='n1', occluded=False, generated=False):
  return an.VidObject(trackid, name, np.asarray(box, np.float32), occluded, generated)


def _frame(*objects, size=(100, 50)):
  return an.VidFrame(size[0], size[1], tuple(objects))  # width, height


def test_clip_boxes():
  boxes = [[-5, -5, 20, 20], [90, 10, 120, 60], [10, 10, 10, 30], [np.nan, 0, 5, 5],
           [110, 0, 130, 10], [5, 30, 8, 20]]
  clipped, valid = tracks_lib.clip_boxes(np.asarray(boxes, np.float32), height=50, width=100)
  np.testing.assert_array_equal(valid, [True, True, False, False, False, False])
  np.testing.assert_array_equal(clipped[:2], [[0, 0, 20, 20], [90, 10, 100, 50]])
  np.testing.assert_array_equal(clipped[2:], 0)


def test_vid_track_disappears_and_reappears():
  frames = [_frame(_obj(0, [1, 1, 9, 9], occluded=True)),
            _frame(_obj(0, [2, 2, 10, 10], generated=True)),
            _frame(), _frame(),
            _frame(_obj(0, [5, 5, 15, 15])), _frame()]
  skips = an.SkipCounter()
  (track,) = tracks_lib.vid_tracks(frames, [0, 1, 2, 3, 4, 5], skips, 'v')
  np.testing.assert_array_equal(track.frame_index, [0, 1, 2, 3, 4])  # Trailing frame trimmed.
  np.testing.assert_array_equal(track.visible, [True, True, False, False, True])
  np.testing.assert_array_equal(track.boxes[2:4], 0)
  np.testing.assert_array_equal(track.boxes[4], [5, 5, 15, 15])
  np.testing.assert_array_equal(track.occluded, [True, False, False, False, False])
  np.testing.assert_array_equal(track.interpolated, [False, True, False, False, False])
  assert skips.as_dict() == {}


def test_vid_degenerate_box_is_counted_and_not_visible():
  frames = [_frame(_obj(0, [1, 1, 9, 9])), _frame(_obj(0, [9, 1, 2, 9], occluded=True)),
            _frame(_obj(0, [200, 1, 300, 9])), _frame(_obj(0, [1, 1, 9, 9]))]
  skips = an.SkipCounter()
  (track,) = tracks_lib.vid_tracks(frames, range(4), skips, 'v')
  np.testing.assert_array_equal(track.visible, [True, False, False, True])
  np.testing.assert_array_equal(track.boxes[1:3], 0)
  assert not track.occluded[1]
  assert skips['degenerate_boxes'] == 2
  assert skips.examples['degenerate_boxes'] == ['v frame 1 trackid 0', 'v frame 2 trackid 0']


def test_vid_short_tracks_are_skipped_and_counted():
  frames = [_frame(_obj(0, [1, 1, 9, 9]), _obj(1, [1, 1, 9, 9])),
            _frame(_obj(0, [1, 1, 9, 9]), _obj(2, [3, 3, 1, 1])),
            _frame(_obj(0, [1, 1, 9, 9]), _obj(2, [1, 1, 9, 9]))]
  skips = an.SkipCounter()
  tracks = tracks_lib.vid_tracks(frames, range(3), skips, 'v')
  assert [t.track_id for t in tracks] == [0]
  assert skips.as_dict() == {'degenerate_boxes': 1, 'short_tracks': 2}


def test_vid_duplicate_trackid_keeps_the_first():
  frames = [_frame(_obj(0, [1, 1, 9, 9]), _obj(0, [2, 2, 5, 5])), _frame(_obj(0, [1, 1, 9, 9]))]
  skips = an.SkipCounter()
  (track,) = tracks_lib.vid_tracks(frames, range(2), skips, 'v')
  np.testing.assert_array_equal(track.boxes[0], [1, 1, 9, 9])
  assert skips['duplicate_objects'] == 1


def test_alov_interpolation_by_hand():
  skips = an.SkipCounter()
  boxes = np.array([[0, 0, 10, 20], [4, 8, 18, 20], [4, 8, 18, 21]], np.float32)
  track = tracks_lib.alov_track(np.array([3, 7, 8]), boxes, height=100, width=100,
                                label='01-Light', skips=skips)
  np.testing.assert_array_equal(track.frame_index, [2, 3, 4, 5, 6, 7])
  np.testing.assert_allclose(track.boxes, [[0, 0, 10, 20], [1, 2, 12, 20], [2, 4, 14, 20],
                                           [3, 6, 16, 20], [4, 8, 18, 20], [4, 8, 18, 21]])
  np.testing.assert_array_equal(track.interpolated, [False, True, True, True, False, False])
  assert track.visible.all() and not track.occluded.any()
  assert (track.track_id, track.label) == (0, '01-Light')
  assert skips.as_dict() == {}


def test_alov_interpolated_boxes_are_clipped_and_degenerate_counted():
  skips = an.SkipCounter()
  boxes = np.array([[-4, 0, 10, 10], [50, 0, 40, 10], [0, 0, 10, 10]], np.float32)
  track = tracks_lib.alov_track(np.array([1, 3, 5]), boxes, height=20, width=30, label='c',
                                skips=skips)
  # Frame 2 interpolates to [23, 0, 25, 10]; frames 3 (and 4: [25, 0, 25, 10]) are degenerate.
  np.testing.assert_allclose(track.boxes, [[0, 0, 10, 10], [23, 0, 25, 10], [0, 0, 0, 0],
                                           [0, 0, 0, 0], [0, 0, 10, 10]])
  np.testing.assert_array_equal(track.visible, [True, True, False, False, True])
  np.testing.assert_array_equal(track.interpolated, [False, True, False, False, False])
  assert skips['degenerate_boxes'] == 2


def test_alov_one_annotation_is_a_short_track():
  skips = an.SkipCounter()
  assert tracks_lib.alov_track(np.array([4]), np.array([[0, 0, 5, 5]], np.float32), 10, 10,
                               'c', skips, 'c/v') is None
  assert skips.as_dict() == {'short_tracks': 1}
  assert skips.examples['short_tracks'] == ['c/v']
