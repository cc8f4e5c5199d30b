"""A catalogue of bad input through the public API: each gets a clear error or a documented result.

Every case is a user's realistic mistake or an unusual-but-valid input (issue 16): boxes,
frames, shapes, sequence files, checkpoints and configs. A case expects either an error of
the given type whose message names the problem (the box, the frame, the file and line), or
a result that holds the documented contract (checked against an independent computation:
the RGB frame a grayscale one is repeated into, the clipped box, the NaN row an out-of-view
line means). `CATALOGUE` is walked by one parametrized test, so adding a case is one line;
`test_catalogue_size` keeps the count that WORKSPACE.md reports (the command lines' cases
are in tests/test_cli.py and tests/test_track.py).
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib
import shutil
import zipfile
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import got10k_tracker
from re3_jax.input import folder_sources
from re3_jax.datasets import dataset_roots
from re3_jax.datasets import sequences
from re3_jax.model import checkpoints
from re3_jax.testing import fake_benchmarks
from re3_jax.testing import fake_datasets
from re3_jax.tracking import export
from re3_jax.tracking import exported
from re3_jax.tracking import functional
from re3_jax.tracking import shipped
from re3_jax.tracking import tracker as tracker_lib
from re3_jax.training import loop
from re3_jax.training import stages as stages_lib
from re3_jax.training import train_step

H, W = 48, 64
FRAME = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
BOX = [10.0, 8.0, 30.0, 28.0]


@dataclasses.dataclass
class Ctx:
  """What a case may use: the tiny model and a fresh folder."""
  params: Any
  config: model.ModelConfig
  tmp: pathlib.Path

  def tracker(self) -> tracker_lib.Re3Tracker:
    return tracker_lib.Re3Tracker(self.params, self.config)

  def second_frame(self, first, second, box=BOX):
    """The box tracked into `second` after starting on `first`."""
    tr = self.tracker()
    tr.track('a', first, box)
    return tr.track('a', second)


@dataclasses.dataclass(frozen=True)
class Case:
  """`run(ctx)` must raise `error` matching `match`, or return a value `check` accepts."""
  name: str
  run: Callable[[Ctx], Any]
  match: str = ''
  error: type[BaseException] | tuple = ValueError
  check: Callable[[Any, Ctx], None] | None = None

  @property
  def kind(self) -> str:
    return 'result' if self.check else 'error'


def _same_as_rgb(frame_fn, rgb=FRAME):
  """A frame format tracks exactly as the RGB frame it stands for (`images` rules)."""
  def check(out, ctx):
    np.testing.assert_array_equal(out, ctx.second_frame(rgb, rgb))
  return Case(frame_fn.__name__.strip('_'),
              lambda ctx: ctx.second_frame(frame_fn(FRAME), frame_fn(FRAME)), check=check)


def _finite_box(out, ctx):
  out = np.asarray(out)
  assert out.shape[-1] == 4 and np.all(np.isfinite(out))
  assert np.all(out[..., 2:] > out[..., :2])


def _otb(ctx, rows=((11, 9, 20, 20),) * 3, lines=None, damage=None):
  """An OTB sequence folder of len(rows) 48x64 frames; `damage(folder)` then breaks it."""
  folder = fake_datasets.write_otb_sequence(ctx.tmp, 'seq', np.asarray(rows, float), lines=lines)
  if damage:
    damage(folder)
  return folder


def _checkpoint(ctx, edit=None, params=None):
  path = checkpoints.save_params(ctx.tmp / 'ckpt', params or ctx.params, ctx.config)
  if edit:
    edit(path)
  return path


def _edit_config(**changes):
  """The config edited in a checkpoint without a manifest (saved before them): the config's
  own checks answer, not the checksum (which names any edit of a checkpoint that has one)."""
  def edit(path):
    (path / 'SHA256SUMS').unlink()
    d = json.loads((path / 'config.json').read_text())
    d.update(changes)
    (path / 'config.json').write_text(json.dumps(d))
  return edit


def _grayscale(f):
  return f[..., 0]


def _grayscale_1(f):
  return f[..., :1]


def _rgba(f):
  return np.concatenate([f, np.full(f.shape[:2] + (1,), 9, np.uint8)], axis=-1)


def _device_array(f):
  return jnp.asarray(f)


def _fortran_order(f):
  return np.asfortranarray(f)


NAN = float('nan')
INF = float('inf')

CATALOGUE = [
    # --- Starting boxes (Re3Tracker.track; the same check serves every entry point).
    Case('nan box', lambda c: c.tracker().track('a', FRAME, [NAN, 1, 9, 9]),
         r"starting box of track 'a' \[nan, 1.0, 9.0, 9.0\] has a NaN"),
    Case('infinite box', lambda c: c.tracker().track('a', FRAME, [1, 1, INF, 9]), 'infinite'),
    Case('box beyond float32', lambda c: c.tracker().track('a', FRAME, [0, 0, 1e39, 1e39]),
         "beyond float32's range"),
    Case('zero-width box', lambda c: c.tracker().track('a', FRAME, [5, 5, 5, 9]), 'width 0'),
    Case('xywh given as xyxy', lambda c: c.tracker().track('a', FRAME, [10, 10, 5, 5]),
         'not x, y, w, h'),
    Case('sub-float32 width', lambda c: c.tracker().track('a', FRAME, [0, 0, 1e-46, 9]),
         'width 0 .*float32'),
    Case('three numbers', lambda c: c.tracker().track('a', FRAME, [1, 2, 3]), '4 values'),
    Case('text box', lambda c: c.tracker().track('a', FRAME, 'abcd'), '4 values|not 4 numbers'),
    Case('nested box', lambda c: c.tracker().track('a', FRAME, [[1, 2], [3, 4]]), 'shape'),
    Case('box right of image', lambda c: c.tracker().track('a', FRAME, [70, 5, 90, 20]),
         r'entirely outside the 64x48'),
    Case('box above image', lambda c: c.tracker().track('a', FRAME, [5, -30, 20, -1]),
         'entirely outside'),
    Case('box partly outside', lambda c: c.tracker().track('a', FRAME, [-10, -10, 20, 20]),
         check=lambda out, c: np.testing.assert_array_equal(out, [-10, -10, 20, 20])),
    Case('box larger than image', lambda c: c.second_frame(FRAME, FRAME, [-50, -50, 200, 200]),
         check=_finite_box),
    Case('unstarted track', lambda c: c.tracker().track('a', FRAME),
         "track 'a' is not being tracked: give it a starting box"),
    Case('box for an unlisted id',
         lambda c: c.tracker().multi_track(['a'], FRAME, {'b': BOX}), 'not in track_ids'),
    Case('repeated ids', lambda c: c.tracker().multi_track(['a', 'a'], FRAME, [BOX, BOX]),
         'repeat'),
    Case('a string as the track ids', lambda c: c.tracker().multi_track('abc', FRAME, [BOX] * 3),
         r"track_ids must be a sequence of ids, not the str 'abc': give \['abc'\] for one track"),
    Case('tracker of another config', lambda c: tracker_lib.Re3Tracker(
        c.params, model.get_config('tiny', lstm_units=8)),
         r"the parameters given to Re3Tracker: .* has shape .* but model config 'tiny' needs"),
    Case('boxes not aligned with ids',
         lambda c: c.tracker().multi_track(['a'], FRAME, [BOX, BOX]), '2 boxes for 1'),
    # --- Frames.
    Case('float32 frame', lambda c: c.tracker().track('a', FRAME / np.float32(255), BOX),
         'float32.*ambiguous'),
    Case('float64 frame', lambda c: c.tracker().track('a', FRAME * 1.0, BOX), 'float64'),
    Case('uint16 frame', lambda c: c.tracker().track('a', FRAME.astype(np.uint16), BOX),
         'uint16'),
    Case('int64 frame (np.array of lists)',
         lambda c: c.tracker().track('a', np.array(FRAME.tolist()), BOX), 'int64'),
    Case('bool frame', lambda c: c.tracker().track('a', FRAME > 128, BOX), 'bool'),
    Case('two channels', lambda c: c.tracker().track('a', FRAME[..., :2], BOX), 'shape'),
    Case('five channels', lambda c: c.tracker().track('a', np.dstack([FRAME, FRAME[..., :2]]),
                                                      BOX), 'shape'),
    Case('a clip given as a frame', lambda c: c.tracker().track('a', FRAME[None], BOX), 'shape'),
    Case('empty frame', lambda c: c.tracker().track('a', FRAME[:0], BOX), 'empty'),
    _same_as_rgb(_grayscale, np.repeat(FRAME[..., :1], 3, axis=-1)),
    _same_as_rgb(_grayscale_1, np.repeat(FRAME[..., :1], 3, axis=-1)),
    _same_as_rgb(_rgba),
    _same_as_rgb(_device_array),
    _same_as_rgb(_fortran_order),
    Case('new frame size mid-track', lambda c: c.second_frame(FRAME, np.tile(FRAME, (2, 2, 1))),
         check=_finite_box),
    Case('all-black frames', lambda c: c.second_frame(FRAME * 0, FRAME * 0), check=_finite_box),
    # --- The functional API (init / step / track_video).
    Case('init with one (4,) box',
         lambda c: functional.init(c.params, FRAME, BOX, config=c.config),
         r'\(N, 4\).*one box: give \[box\]'),
    Case('init with no boxes',
         lambda c: functional.init(c.params, FRAME, np.zeros((0, 4)), config=c.config), 'N >= 1'),
    Case('init with a nan box',
         lambda c: functional.init(c.params, FRAME, [[NAN, 0, 5, 5]], config=c.config),
         r'starting boxes\[0\].*NaN'),
    Case('init on a float frame',
         lambda c: functional.init(c.params, FRAME / 255, [BOX], config=c.config), 'float64'),
    Case('step with a foreign state',
         lambda c: functional.step(c.params, {'box': BOX}, FRAME, config=c.config), 'TrackState'),
    Case('step on an RGBA frame',
         lambda c: functional.step(c.params, functional.init(c.params, FRAME, [BOX],
                                                             config=c.config),
                                   _rgba(FRAME), config=c.config)[0],
         check=lambda out, c: np.testing.assert_array_equal(
             out[0], c.second_frame(FRAME, FRAME))),
    Case('track_video on one frame',
         lambda c: functional.track_video(c.params, FRAME, BOX, config=c.config),
         r'\(T, H, W, C\).*frames\[None\]'),
    Case('track_video on no frames',
         lambda c: functional.track_video(c.params, FRAME[None][:0], BOX, config=c.config),
         'no frames'),
    Case('track_video with reset_interval 0',
         lambda c: functional.track_video(c.params, FRAME[None], BOX, config=c.config,
                                          reset_interval=0), 'reset_interval'),
    Case('tracker with reset_interval 1.5',
         lambda c: tracker_lib.Re3Tracker(c.params, c.config, reset_interval=1.5),
         'reset_interval'),
    # --- Sequence files (OTB / VOT layouts).
    Case('ground truth with text', lambda c: sequences.load_sequence(
        _otb(c, lines=['11,9,20,20', '11,9,twenty,20', '11,9,20,20'])),
         r'groundtruth_rect.txt:2: not numbers'),
    Case('ground truth with 5 values', lambda c: sequences.load_sequence(
        _otb(c, lines=['11,9,20,20', '11,9,20,20,1', '11,9,20,20'])),
         r'groundtruth_rect.txt:2: expected 4'),
    Case('fewer boxes than frames', lambda c: sequences.load_sequence(
        _otb(c, lines=['11,9,20,20', '11,9,20,20'])),
         'sequence seq: 3 frames but 2 ground-truth boxes in .*groundtruth_rect.txt'),
    Case('empty ground truth', lambda c: sequences.load_sequence(_otb(c, lines=[])),
         'holds no boxes'),
    Case('VOT mask line', lambda c: sequences.read_groundtruth(
        _write(c.tmp / 'groundtruth.txt', 'm1,2,3\n')), 'segmentation mask'),
    Case('missing frame', lambda c: sequences.open_sequence(
        _otb(c, damage=lambda f: (f / 'img' / '0002.jpg').unlink())).load(),
         r'sequence seq: frame file .*0002.jpg is missing \(frames 1..3 expected\)'),
    Case('corrupt frame', lambda c: sequences.load_sequence(
        _otb(c, damage=lambda f: (f / 'img' / '0003.jpg').write_bytes(b'not a jpeg'))),
         r'sequence seq: frame 2: cannot read frame .*0003.jpg'),
    Case('empty (0-byte) frame file', lambda c: sequences.load_sequence(
        _otb(c, damage=lambda f: (f / 'img' / '0002.jpg').write_bytes(b''))),
         r'sequence seq: frame 1: cannot read frame .*0002.jpg: the file is empty \(0 bytes\)$'),
    # Pillow warns from its limit to twice it and raises above: both are an error naming the file.
    Case('frame over the decompression-bomb limit', lambda c: _under_pixel_limit(
        2000, lambda: sequences.load_sequence(_otb(c))),
         r'sequence seq: frame 0: cannot read frame .*0001.jpg: 3072 pixels is over the '
         r'decompression-bomb limit of 2000 \(PIL.Image.MAX_IMAGE_PIXELS: raise it'),
    Case('frame over twice the decompression-bomb limit', lambda c: _under_pixel_limit(
        1000, lambda: sequences.open_sequence(_otb(c)).check()),
         r'sequence seq: frame 0: cannot read frame .*0001.jpg: 3072 pixels is over the '
         r'decompression-bomb limit of 1000'),
    Case('training source with an empty first frame', lambda c: folder_sources.FolderSource(
        f"otb:{_otb(c, damage=lambda f: (f / 'img' / '0001.jpg').write_bytes(b'')).parent}"),
         r'sequence seq: frame 0: cannot read frame .*0001.jpg: the file is empty \(0 bytes\)$'),
    Case('out-of-view rows', lambda c: sequences.load_sequence(
        _otb(c, lines=['11,9,20,20', 'NaN,NaN,NaN,NaN', '11,9,20,20'])).boxes,
         check=lambda out, c: (np.testing.assert_array_equal(np.isnan(out[:, 0]),
                                                             [False, True, False]),
                               np.testing.assert_allclose(out[0], [10, 8, 30, 28]))),
    Case('tab- and space-separated ground truth', lambda c: sequences.load_sequence(
        _otb(c, lines=['11\t9\t20\t20', '11 9 20 20', '11, 9, 20, 20'])).boxes,
         check=lambda out, c: np.testing.assert_allclose(out, [[10, 8, 30, 28]] * 3)),
    # --- Checkpoints.
    Case('no checkpoint there', lambda c: checkpoints.load_params(c.tmp / 'nothing'),
         'holds no re3_jax checkpoint', error=FileNotFoundError),
    Case('checkpoint of another model', lambda c: checkpoints.load_params(
        _checkpoint(c), expected_config=model.get_config('tiny', lstm_units=8)),
         r'holds another model than the one expected: lstm_units 16 \(not 8\)$'),
    Case('config.json not JSON', lambda c: checkpoints.load_params(
        _checkpoint(c, edit=lambda p: ((p / 'SHA256SUMS').unlink(),
                                       (p / 'config.json').write_text('{bad')))),
         r'config.json is not a valid model config'),
    Case('config.json with a wrong type', lambda c: checkpoints.load_params(
        _checkpoint(c, edit=_edit_config(lstm_units='16'))), 'lstm_units must be int'),
    Case('config.json with an unknown field', lambda c: checkpoints.load_params(
        _checkpoint(c, edit=_edit_config(colour='red'))), 'unknown ModelConfig fields'),
    Case('config.json of another width', lambda c: checkpoints.load_params(
        _checkpoint(c, edit=_edit_config(lstm_units=8))), 'lstm|shape'),
    # --- Configs.
    Case('unknown model', lambda c: loop.TrainConfig(model='huge'), "unknown model config 'huge'"),
    Case('crop size for the caffenet tower',
         lambda c: loop.TrainConfig(arch=model.ModelOverrides(crop_size=95)),
         '227-pixel crops'),
    Case('crop size too small', lambda c: model.get_config('squeeze', crop_size=40),
         'crop_size must be >= 63'),
    Case('negative learning rate', lambda c: train_step.OptimConfig(learning_rate=-1e-3),
         'learning_rate must be finite and >= 0'),
    Case('nan learning rate', lambda c: train_step.OptimConfig(learning_rate=NAN),
         'learning_rate must be finite'),
    Case('negative decay', lambda c: train_step.OptimConfig(decay_steps=-5), 'decay_steps'),
    Case('probability above 1', lambda c: stages_lib.parse_stages('2x8@1.5'), '1.5'),
    Case('unknown precision', lambda c: loop.TrainConfig(precision='fp8'), 'fp8'),
    Case('pretrained tower for caffenet',
         lambda c: loop.TrainConfig(model='small', pretrained_tower='x.net'), 'squeezenet tower'),
    Case('parse_box with 3 numbers', lambda c: boxes_lib.parse_box('1,2,3'), 'got 3'),
    # --- The ecosystem (issue 17): got10k's boxes, benchmark layouts, the exporter.
    Case('got10k box of 3 numbers', lambda c: _got10k_init(c, [10, 8, 20]),
         r'got10k box \[10, 8, 20\] must be 4 numbers'),
    Case('got10k box with NaN', lambda c: _got10k_init(c, [10, 8, NAN, 20]),
         r'got10k box \[10.0, 8.0, nan, 20.0\] \[x, y, w, h\] must be finite'),
    Case('got10k box of zero width', lambda c: _got10k_init(c, [10, 8, 0, 20]), 'w and h > 0'),
    Case('got10k box as text', lambda c: _got10k_init(c, 'abc'), 'is not 4 numbers'),
    Case('got10k box outside the image', lambda c: _got10k_init(c, [500, 8, 20, 20]),
         'outside|inside'),
    # The adapter's images follow the tracker's rules and messages (issue 29, item 5).
    Case('got10k image of floats 0..1', lambda c: _got10k_init(
        c, [10, 8, 20, 20], FRAME.astype(np.float32) / 255),
         'image has dtype float32; expected uint8 RGB. Float images are not accepted'),
    Case('got10k image of integers over 255', lambda c: _got10k_init(
        c, [10, 8, 20, 20], FRAME.astype(np.int32) * 4), 'image has dtype int32; expected uint8'),
    Case('got10k PIL image of mode F', lambda c: _got10k_init(
        c, [10, 8, 20, 20], Image.fromarray(FRAME[..., 0].astype(np.float32))),
         'image has dtype float32; expected uint8'),
    Case('got10k PIL image of mode I;16', lambda c: _got10k_init(
        c, [10, 8, 20, 20], Image.fromarray(FRAME[..., 0].astype(np.uint16) * 256)),
         'image has dtype uint16; expected uint8'),
    Case('got10k image None', lambda c: _got10k_init(c, [10, 8, 20, 20], None),
         'image is None, not an image'),
    Case('got10k image as a path', lambda c: _got10k_init(c, [10, 8, 20, 20], 'frame.jpg'),
         "image is 'frame.jpg', not an image"),
    Case('got10k grayscale PIL image', lambda c: _got10k_gray(c),
         check=lambda out, c: np.testing.assert_array_equal(np.isfinite(out), [1, 1, 1, 1])),
    Case('LaSOT sequence without groundtruth.txt', lambda c: dataset_roots.lasot(_lasot(
        c, lambda f: (f / 'groundtruth.txt').unlink())), 'holds no CATEGORY/CATEGORY-N folder',
         error=FileNotFoundError),
    Case('LaSOT list naming no folder', lambda c: dataset_roots.lasot(_lasot(
        c, lambda f: (c.tmp / 'list.txt').write_text('cat-7\n'))),
         r'sequence cat-7: listed in .*list.txt', error=sequences.SequenceError),
    Case('LaSOT flags of another length', lambda c: dataset_roots.lasot(_lasot(
        c, lambda f: (f / 'full_occlusion.txt').write_text('0,1\n'))),
         r'full_occlusion.txt has 2 values for 3 frames', error=sequences.SequenceError),
    Case('LaSOT occluded frame', lambda c: dataset_roots.lasot(_lasot(
        c, lambda f: (f / 'full_occlusion.txt').write_text('0,1,0\n'))).sequences[0].boxes,
         check=lambda out, c: np.testing.assert_array_equal(np.isnan(out[:, 0]), [0, 1, 0])),
    Case('UAV123 annotation without its frames', lambda c: _uav123_without_frames(c),
         r'sequence car1_s: frames folder .*data_seq/UAV123/car1_s is missing',
         error=sequences.SequenceError),
    Case('export of another model\'s parameters', lambda c: export.export_tracker(
        c.params, model.get_config('tiny', lstm_units=8)), 'lstm|shape'),
    # Checksums of saved weights (issue 29, item 6).
    Case('shipped model with 64 bytes of its shard overwritten',
         lambda c: checkpoints.load_params(_damaged_shipped_copy(c)),
         r'checkpoint .*/re3_nano is damaged: .*/re3_nano/params/ocdbt.process_0/'
         r'd/\w+ does not match its checksum: SHA-256 [0-9a-f]{64}, the manifest .*SHA256SUMS '
         r'expects [0-9a-f]{64}', error=checkpoints.DamagedCheckpointError),
    Case('checkpoint with a file listed in its manifest removed',
         lambda c: checkpoints.load_params(_checkpoint(
             c, lambda p: (p / 'params' / '_METADATA').unlink())),
         r'ckpt/params/_METADATA is missing \(listed in the checksum manifest',
         error=checkpoints.DamagedCheckpointError),
    Case('checkpoint with a manifest line that does not parse',
         lambda c: checkpoints.load_params(_checkpoint(
             c, lambda p: _write(p / 'SHA256SUMS', 'abc  config.json\n'))),
         r"SHA256SUMS, line 1: 'abc  config.json' is not \"SHA-256  RELATIVE/PATH\"",
         error=checkpoints.DamagedCheckpointError),
    Case('checkpoint with a manifest path leaving its folder',
         lambda c: checkpoints.load_params(_checkpoint(
             c, lambda p: _write(p / 'SHA256SUMS', '0' * 64 + '  ../x\n'))),
         r"line 1: '0{64}  ../x' is not", error=checkpoints.DamagedCheckpointError),
    Case('checkpoint saved before manifests (none) loads unchecked',
         lambda c: checkpoints.load_params(_checkpoint(
             c, lambda p: (p / 'SHA256SUMS').unlink()))[0],
         check=lambda out, c: np.testing.assert_array_equal(out['fc6']['w'],
                                                            c.params['fc6']['w'])),
    # The exported tracker's file is data: header schema, parameters, checksums (item 7).
    Case('exported file with a non-JSON header',
         lambda c: _edited_export(c, lambda m: m.update({'header.json': b'{"format": '})),
         r'.*t.re3x: header.json is not JSON: Expecting value'),
    Case('exported file with a list as header',
         lambda c: _edited_export(c, lambda m: m.update({'header.json': b'[1, 2]'})),
         r'.*t.re3x: header.json must be a JSON object, got list'),
    Case('exported file whose header lacks params',
         lambda c: _edited_export(c, _edit_header(lambda h: h.pop('params'))),
         r".*t.re3x: header.json: the key 'params' is missing"),
    Case('exported file with a damaged init.jax',
         lambda c: _edited_export(c, _damage_init, resum=False),
         r'.*t.re3x: init.jax does not match its checksum: SHA-256 [0-9a-f]{64}, SHA256SUMS '
         r'expects [0-9a-f]{64}'),
    Case('exported file with a damaged init.jax and a manifest to match',
         lambda c: _edited_export(c, _damage_init),
         r'.*t.re3x: init.jax does not deserialise with JAX [\d.]+ \(the file was exported by'),
    Case('exported file with an edited dtype',
         lambda c: _edited_export(c, _edit_header(lambda h: h['params'][0].update(
             dtype='bfloat16'))),
         r'.*t.re3x: header.json: parameter \S+: size \d+ bytes does not match its shape '
         r'\[.*\] of bfloat16'),
    Case('exported file with a dtype outside the allowed set',
         lambda c: _edited_export(c, _edit_header(lambda h: h['params'][0].update(
             dtype='object'))),
         r"parameter \S+: dtype 'object' is not one of float32, bfloat16, float16"),
    Case('exported file with an edited dtype and no new manifest',
         lambda c: _edited_export(c, _edit_header(lambda h: h['params'][0].update(
             dtype='float16', argument_dtype='float16', size=h['params'][0]['size'] // 2)),
             resum=False),
         r'.*t.re3x: header.json does not match its checksum'),
    Case('exported file with swapped offsets',
         lambda c: _edited_export(c, _edit_header(_swap_offsets)),
         r'.*t.re3x: header.json: parameter\S* .*(lie outside params.bin|overlap)'),
    Case('exported file with a parameter beyond params.bin',
         lambda c: _edited_export(c, _edit_header(lambda h: h['params'][-1].update(
             offset=h['params'][-1]['offset'] + 8))),
         r'parameter \S+: bytes \d+..\d+ lie outside params.bin \(\d+ bytes\)'),
    Case('exported file with a member whose bytes changed in the zip',
         lambda c: _export_with_bad_crc(c), r'.*t.re3x is not an exported re3_jax tracker: '
         r'Bad CRC-32'),
]


_EXPORTS: dict[int, bytes] = {}


def _exported_bytes(ctx) -> bytes:
  """The tiny model exported for the CPU (once per session)."""
  key = id(ctx.params)
  if key not in _EXPORTS:
    _EXPORTS[key] = export.export_tracker(ctx.params, ctx.config, platforms=('cpu',))
  return _EXPORTS[key]


def _edited_export(ctx, edit, resum=True):
  """`exported.load` of the tiny model's file with `edit(members)` applied to its members
  ({name: bytes}); `resum`: with a SHA256SUMS rewritten to match (a file written wrongly, not
  damaged afterwards), so the check meant is the one that finds it."""
  with zipfile.ZipFile(io.BytesIO(_exported_bytes(ctx))) as z:
    members = {name: z.read(name) for name in z.namelist()}
  edit(members)
  if resum:
    members[exported.SUMS] = exported.sums_text(
        {k: v for k, v in members.items() if k != exported.SUMS}).encode()
  path = ctx.tmp / 't.re3x'
  with zipfile.ZipFile(path, 'w') as z:
    for name, data in members.items():
      z.writestr(name, data)
  return exported.load(path)


def _edit_header(fn):
  def edit(members):
    header = json.loads(members['header.json'])
    fn(header)
    members['header.json'] = json.dumps(header).encode()
  return edit


def _damage_init(members):
  data = bytearray(members['init.jax'])
  data[100:164] = bytes(b ^ 0xFF for b in data[100:164])
  members['init.jax'] = bytes(data)


def _swap_offsets(header):
  """The offsets of the largest and the smallest parameter swapped."""
  leaves = sorted(header['params'], key=lambda leaf: leaf['size'])
  leaves[0]['offset'], leaves[-1]['offset'] = leaves[-1]['offset'], leaves[0]['offset']


def _export_with_bad_crc(ctx):
  """A stored (not deflated) file with one byte of params.bin changed in place: the zip's
  CRC-32 finds it."""
  with zipfile.ZipFile(io.BytesIO(_exported_bytes(ctx))) as z:
    members = {name: z.read(name) for name in z.namelist()}
  out = io.BytesIO()
  with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as z:
    for name, data in members.items():
      z.writestr(name, data)
  data = bytearray(out.getvalue())
  at = bytes(data).index(members['params.bin'][:64]) + 32
  data[at] ^= 0xFF
  path = ctx.tmp / 't.re3x'
  path.write_bytes(bytes(data))
  return exported.load(path)


def _damaged_shipped_copy(ctx) -> pathlib.Path:
  """A copy of the package's shipped model with 64 bytes of its largest shard overwritten
  (the bytes of a parameter: orbax would read them without noticing)."""
  copy = ctx.tmp / 're3_nano'
  shutil.copytree(shipped.pretrained_dir('re3_nano'), copy)
  shard = max(copy.rglob('*'), key=lambda f: f.stat().st_size if f.is_file() else 0)
  with open(shard, 'r+b') as f:
    f.seek(shard.stat().st_size // 2)
    data = f.read(64)
    f.seek(shard.stat().st_size // 2)
    f.write(bytes(b ^ 0xFF for b in data))  # every byte changed
  return copy


_PIL_FRAME = object()  # `_got10k_init`'s default image: FRAME as a PIL image


def _got10k_init(ctx, box, image=_PIL_FRAME):
  pytest.importorskip('got10k')
  adapter = got10k_tracker.Re3Got10kTracker(ctx.tracker())
  return adapter.init(Image.fromarray(FRAME) if image is _PIL_FRAME else image, box)


def _got10k_gray(ctx):
  """An 8-bit grayscale PIL image ('L') is an image: init and update track on it."""
  pytest.importorskip('got10k')
  adapter = got10k_tracker.Re3Got10kTracker(ctx.tracker())
  gray = Image.fromarray(FRAME[..., 0])
  adapter.init(gray, [10, 8, 20, 20])
  return adapter.update(gray)


def _lasot(ctx, damage):
  """A 3-frame LaSOT root ``cat/cat-1``; `damage(folder)` then breaks it."""
  folder = fake_benchmarks.write_lasot(ctx.tmp, 'cat-1', [[11, 9, 20, 20]] * 3)
  damage(folder)
  return ctx.tmp


def _uav123_without_frames(ctx):
  pytest.importorskip('got10k')
  (ctx.tmp / 'anno/UAV123').mkdir(parents=True)
  (ctx.tmp / 'anno/UAV123/car1_s.txt').write_text('1,2,3,4\n')
  return dataset_roots.uav123(ctx.tmp)


def _under_pixel_limit(limit: int, fn):
  """`fn()` with Pillow's decompression-bomb limit lowered to `limit` pixels (a 48x64 frame is
  3072): a huge frame without writing one."""
  before = Image.MAX_IMAGE_PIXELS
  Image.MAX_IMAGE_PIXELS = limit
  try:
    return fn()
  finally:
    Image.MAX_IMAGE_PIXELS = before


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
  path.write_text(text)
  return path


@pytest.mark.parametrize('case', CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_bad_input(case, tiny, tmp_path):
  ctx = Ctx(*tiny, tmp_path)
  if case.check is None:
    with pytest.raises(case.error, match=case.match):
      case.run(ctx)
  else:
    case.check(case.run(ctx), ctx)


def test_catalogue_size():
  """The figures WORKSPACE.md reports (update both together)."""
  names = [c.name for c in CATALOGUE]
  assert len(set(names)) == len(names)
  kinds = [c.kind for c in CATALOGUE]
  assert (len(kinds), kinds.count('error'), kinds.count('result')) == (108, 93, 15), (
      len(kinds), kinds.count('error'), kinds.count('result'))
