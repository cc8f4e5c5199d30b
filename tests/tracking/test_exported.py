"""Tests of the exported tracker (`tracking.export`) and its JAX-only loader (`tracking.exported`).

Tolerance: the exported `init`/`step` are the library's jitted bodies lowered
to StableHLO, run on the same parameter values (bfloat16 weights widened to
float32 are the same numbers), so boxes agree to float32 rounding: XLA may
fuse the separately compiled module differently and reorder float32 sums
(relative ~1e-7 of values of ~100 px, ~1e-5 px a pass, compounded through the
LSTM state over ten frames: far below the 1e-3 px allowed). Over whole sequences the
LSTM state can amplify such differences to pixels and more: the bound of the whole-sequence
test below, and its measurements.
"""

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile

import jax
import numpy as np
import pytest

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.datasets import sequences
from re3_jax.tracking import export
from re3_jax.tracking import exported
from re3_jax.tracking import functional
from re3_jax.tracking import tracker as tracker_lib
from re3_jax.tracking import tracker_config

ATOL = 1e-3  # pixels; see the module docstring
RESET_INTERVAL = 4  # ten frames cross two LSTM resets (after passes 4 and 8)


@pytest.fixture(scope='module')
def clip(sequences_dir):
  seq = sequences.load_sequence(sequences_dir / 'otb_crossing', max_frames=10)
  # The true box and two larger ones: three objects in one batch.
  starts = np.concatenate([seq.boxes[:1], [[40, 30, 200, 180], [150, 60, 330, 220]]])
  return seq.frames, starts.astype(np.float32)


@pytest.fixture(scope='module')
def artifact(steady, tmp_path_factory):
  params, config = steady
  path = tmp_path_factory.mktemp('export') / 'tiny.re3x'
  export.write(path, export.export_tracker(params, config, reset_interval=RESET_INTERVAL,
                                           platforms=('cpu', 'cuda')))
  return path


def library_track(params, config, frames, starts, reset_interval=RESET_INTERVAL):
  params = functional.prepare_params(params, config)
  state = functional.init(params, frames[0], starts, config=config)
  out = []
  for frame in frames[1:]:
    box, state = functional.step(params, state, frame, config=config,
                                 reset_interval=reset_interval)
    out.append(np.asarray(box))
  return np.stack(out), state


def exported_track(tracker, frames, starts):
  state = tracker.init(frames[0], starts)
  out = []
  for frame in frames[1:]:
    box, state = tracker.step(state, frame)
    out.append(np.asarray(box))
  return np.stack(out), state


@pytest.mark.parametrize('n', [1, 3])
def test_exported_step_equals_the_librarys_on_real_frames(steady, clip, artifact, n):
  params, config = steady
  frames, starts = clip
  tracker = exported.load(artifact)  # one artifact: any number of objects, any frame size
  expected, state = library_track(params, config, frames, starts[:n])
  got, got_state = exported_track(tracker, frames, starts[:n])
  assert got.shape == (9, n, 4)
  assert np.all(boxes_lib.width_height(expected) > 1)  # the guards did not decide the boxes
  np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
  leaves = jax.tree_util.tree_leaves(state)
  assert len(got_state) == len(leaves) == len(tracker.header['state'])
  for name, a, b in zip([s['name'] for s in tracker.header['state']], got_state, leaves):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=ATOL, err_msg=name)
  names = [s['name'] for s in tracker.header['state']]
  count = np.asarray(got_state[names.index('frame_count')])
  assert count.tolist() == [10] * n  # two resets crossed
  np.testing.assert_allclose(tracker.scores(got_state), np.asarray(state.score), rtol=0,
                             atol=1e-4)


def test_the_header_describes_the_export(steady, artifact):
  _, config = steady
  header, init, step, params = exported.read(artifact)
  assert header['format'] == exported.FORMAT and header['version'] == exported.VERSION
  assert model.ModelConfig.from_json(json.dumps(header['model_config'])) == config
  assert header['crop_size'] == config.crop_size
  assert header['reset_interval'] == RESET_INTERVAL
  assert header['frame_size'] is None and header['objects'] is None  # symbolic
  assert header['platforms'] == ['cpu', 'cuda']
  assert init and step
  assert sum(p.size for p in params) == model.count_params(model.abstract_params(config))


def test_a_fixed_frame_size_and_number_of_objects(steady, clip, tmp_path):
  params, config = steady
  frames, starts = clip
  path = export.write(tmp_path / 'fixed.re3x', export.export_tracker(
      params, config, reset_interval=RESET_INTERVAL, frame_size=frames.shape[1:3], objects=3,
      platforms=('cpu',)))
  tracker = exported.load(path)
  assert tracker.header['frame_size'] == list(frames.shape[1:3])
  expected, _ = library_track(params, config, frames[:4], starts)
  got, state = exported_track(tracker, frames[:4], starts)
  np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
  with pytest.raises(ValueError, match=r'image is 120x180 but this tracker was exported for '
                     r'240x360 frames'):
    tracker.step(state, frames[0][:120, :180])
  with pytest.raises(ValueError, match='1 boxes but this tracker was exported for 3'):
    tracker.init(frames[0], starts[:1])


def test_the_loader_runs_where_re3_jax_cannot_be_imported(steady, clip, artifact, tmp_path):
  """exported.py copied alone to a folder, run with re3_jax blocked from importing."""
  params, config = steady
  frames, starts = clip
  folder = tmp_path / 'alone'
  folder.mkdir()
  shutil.copy(exported.__file__, folder / 'exported.py')
  np.save(folder / 'frames.npy', frames)
  np.save(folder / 'starts.npy', starts)
  (folder / 'run.py').write_text(textwrap.dedent(f"""
      import importlib.abc, sys

      class NoRe3(importlib.abc.MetaPathFinder):  # re3_jax may be installed: make it absent
        def find_spec(self, name, path=None, target=None):
          if name.split('.')[0] == 're3_jax':
            raise ImportError('re3_jax is blocked')

      sys.meta_path.insert(0, NoRe3())
      try:
        import re3_jax
      except ImportError:
        pass
      else:
        raise SystemExit('re3_jax imported')
      import numpy as np
      import exported
      tracker = exported.load({str(artifact)!r})
      frames = np.load('frames.npy')
      state = tracker.init(frames[0], np.load('starts.npy'))
      out = []
      for frame in frames[1:]:
        box, state = tracker.step(state, frame)
        out.append(np.asarray(box))
      np.save('boxes.npy', np.stack(out))
      assert not [m for m in sys.modules if m.startswith('re3_jax')]
      """))
  proc = subprocess.run([sys.executable, 'run.py'], cwd=folder, capture_output=True, text=True,
                        timeout=300, env={'PATH': '/usr/bin:/bin', 'JAX_PLATFORMS': 'cpu',
                                          'HOME': str(tmp_path)})
  assert proc.returncode == 0, proc.stderr[-3000:]
  expected, _ = library_track(params, config, frames, starts)
  np.testing.assert_allclose(np.load(folder / 'boxes.npy'), expected, rtol=0, atol=ATOL)
  # Without re3_jax, the loader's own copy of the cache rule: $HOME/.cache/re3_jax/xla.
  assert any((tmp_path / '.cache' / 're3_jax' / 'xla').iterdir())


def test_the_loader_says_when_another_jax_version_exported_the_file(artifact, tmp_path):
  """The header's JAX version is compared with this one's: a warning names both."""
  with zipfile.ZipFile(artifact) as z:
    members = {name: z.read(name) for name in z.namelist()}
  header = json.loads(members[exported.HEADER])
  assert header['jax_version'] == jax.__version__
  members[exported.HEADER] = json.dumps(dict(header, jax_version='0.4.1')).encode()
  members[exported.SUMS] = exported.sums_text(
      {k: v for k, v in members.items() if k != exported.SUMS}).encode()
  with zipfile.ZipFile(tmp_path / 'old.re3x', 'w') as z:
    for name, data in members.items():
      z.writestr(name, data)
  with pytest.warns(UserWarning, match=rf'old.re3x was exported by JAX 0.4.1 and is read by JAX '
                    rf'{jax.__version__}: jax.export promises that JAX releases of the 6 months'):
    exported.load(tmp_path / 'old.re3x')


def test_the_loader_names_bad_inputs(clip, artifact, tmp_path):
  frames, starts = clip
  tracker = exported.load(artifact)
  with pytest.raises(ValueError, match='image has dtype float32; expected uint8 RGB'):
    tracker.init(frames[0].astype(np.float32), starts)
  with pytest.raises(ValueError, match=r'image has shape \(240, 360\); expected uint8 RGB'):
    tracker.init(frames[0][..., 0], starts)
  with pytest.raises(ValueError, match=r'boxes must be \(N, 4\) xyxy with N >= 1, got shape '
                     r'\(4,\)'):
    tracker.init(frames[0], starts[0])
  with pytest.raises(ValueError, match=r'boxes\[1\] = \[.*\] is not a finite xyxy box'):
    tracker.init(frames[0], [[1, 2, 30, 40], [np.nan, 2, 30, 40]])
  leaves = len(tracker.header['state'])
  assert leaves == len(functional.TrackState._fields) + 6  # two LSTM states of 4 leaves each
  with pytest.raises(ValueError, match=f'state must be the tuple of {leaves} arrays'):
    tracker.step({'box': starts}, frames[1])
  (tmp_path / 'not.re3x').write_bytes(b'not a zip')
  with pytest.raises(ValueError, match=f'{tmp_path / "not.re3x"} is not an exported re3_jax '
                     'tracker'):
    exported.load(tmp_path / 'not.re3x')
  with zipfile.ZipFile(tmp_path / 'other.re3x', 'w') as z:
    for name in (exported.HEADER, exported.INIT, exported.STEP, exported.PARAMS):
      z.writestr(name, json.dumps({'format': exported.FORMAT, 'version': 99}))
  with pytest.raises(ValueError, match='format version 99; this loader reads versions 1, 2'):
    exported.load(tmp_path / 'other.re3x')


def test_export_refuses_parameters_of_another_model(tiny):
  params, config = tiny
  with pytest.raises(ValueError, match=r"the parameters do not match model config 'small': "
                     'missing'):
    export.export_tracker(params, model.get_config('small'))
  params = dict(params, fc_output={'w': params['fc_output']['w'][:, :2],
                                   'b': params['fc_output']['b']})
  with pytest.raises(ValueError, match=r'the parameters: fc_output/w has shape \(\d+, 2\) but model '
                     r"config 'tiny' needs \(\d+, 4\)"):
    export.export_tracker(params, config)


def _nowhere(tmp_path):
  return tracker_config.TrackerConfig(checkpoint=str(tmp_path / 'nowhere'))


def test_an_output_that_cannot_be_written_is_named_before_exporting(tmp_path):
  with pytest.raises(FileNotFoundError, match=f'output {tmp_path}/missing/t.re3x cannot be '
                     f'written: its folder {tmp_path}/missing does not exist'):
    export.export_checkpoint(_nowhere(tmp_path), tmp_path / 'missing' / 't.re3x')
  with pytest.raises(IsADirectoryError, match=f'output {tmp_path} is a folder'):
    export.export_checkpoint(_nowhere(tmp_path), tmp_path)
  with pytest.raises(FileNotFoundError, match='holds no re3_jax checkpoint'):
    export.export_checkpoint(_nowhere(tmp_path), tmp_path / 't.re3x')
  assert not list(tmp_path.iterdir())


# The model shipped until 2026-12-07 (`nano`) over the whole of VOT2015 bag (196 frames),
# measured on the 2-core development machine (2026-12-06, WORKSPACE.md "The exported tracker
# over whole sequences"):
# the per-frame library, the exported tracker and `track_video` stay within 0.061 px of each
# other on every frame, the same OTB success (0.610). They are not the same computation (the
# library packs fc6 for the CPU, the export widens bfloat16 weights to float32, `track_video`
# runs the bfloat16 weights as given), and over other sequences the LSTM state amplifies the
# rounding: on OTB Crossing they part from frame 15 by up to 110 px (same success, 0.170),
# on UAV car16 by 124 px (success 0.489 against 0.354, issue 28). Bag is a sequence where the
# tracker holds its target, so the differences stay at rounding's scale; the bound below
# allows 16x the measured 0.061 px for another CPU's rounding, and 0.01 of success.
# The shipped `nano_template` model (2026-12-07, the same machine): the exported tracker equals
# the library to the bit on all 196 frames (0.0 px), success 0.691; `track_video` parts from
# them at frame 139 and by up to 3.9 px from frame 154 (its unpacked bfloat16 fc6, amplified
# by the LSTM), on the target all along: its boxes overlap the library's with IoU >= 0.926,
# success 0.6912 against 0.6914. So the exported tracker keeps the pixel bound, and
# `track_video` is held to the same target on every frame (IoU >= 0.5 against the measured
# 0.926: room for another CPU's rounding to part them further) and to the same success.
WHOLE_SEQUENCE_PX = 1.0
WHOLE_SEQUENCE_SUCCESS = 0.01
SAME_TARGET_IOU = 0.5


@pytest.mark.slow
def test_the_shipped_model_exported_tracks_a_whole_sequence_as_the_library(sequences_dir,
                                                                              tmp_path):
  from re3_jax.evaluation import metrics  # pylint: disable=g-import-not-at-top
  seq = sequences.load_sequence(sequences_dir / 'vot15_bag')
  path, config = export.export_checkpoint(tracker_config.TrackerConfig(),
                                          tmp_path / 'shipped.re3x', platforms=('cpu',))
  assert config.name == 'nano_template'
  tracker = exported.load(path)
  reference = tracker_lib.Re3Tracker.pretrained(recovery=False)  # the export has none
  state = tracker.init(seq.frames[0], seq.boxes[:1])
  library, exported_boxes = [reference.track('a', seq.frames[0], seq.boxes[0])], [seq.boxes[0]]
  for frame in seq.frames[1:]:
    box, state = tracker.step(state, frame)
    exported_boxes.append(np.asarray(box)[0])
    library.append(reference.track('a', frame))
  video = np.asarray(functional.track_video(reference.params, seq.frames, seq.boxes[0],
                                            config=reference.config, recovery=False))
  library, exported_boxes = np.asarray(library), np.asarray(exported_boxes)
  success = {}
  np.testing.assert_allclose(exported_boxes, library, rtol=0, atol=WHOLE_SEQUENCE_PX)
  overlap = metrics.iou(video, library)
  assert overlap.min() >= SAME_TARGET_IOU, (overlap.min(), overlap.argmin())
  for name, boxes in (('library', library), ('exported', exported_boxes), ('video', video)):
    success[name] = metrics.ope(boxes, seq.boxes).success_score
  assert max(success.values()) - min(success.values()) <= WHOLE_SEQUENCE_SUCCESS, success
