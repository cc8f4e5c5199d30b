"""Shared fixtures: the tiny model and the real sequences beside the checkout.

Compiled functions are shared across tests, pytest-xdist workers and the
subprocesses tests start (the train, track and evaluate command lines, the
8-device and 2-process runs) through JAX's persistent compilation cache: many
tests compile the same train step or tracker, and on a 2-core machine
compiling is most of the suite's time. The cache is a fresh folder per run
(`JAX_COMPILATION_CACHE_DIR` given to the environment, so subprocesses and
xdist workers find it); a folder set by the caller is used as it is. A cached
executable is the one XLA compiled, so results are unchanged.
"""

import atexit
import os
import pathlib
import shutil
import tempfile

if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix='re3_jax_tests_xla_cache_')
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _CACHE
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
# Cache every compilation, however quick: the tiny model's compile in ~0.1-5 s each.
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')

import jax  # pylint: disable=g-import-not-at-top  (after the cache's environment)
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import pytest

from re3_jax import model
from re3_jax.core import boxes as boxes_lib

jax.config.update('jax_compilation_cache_dir', os.environ['JAX_COMPILATION_CACHE_DIR'])
jax.config.update('jax_persistent_cache_min_compile_time_secs',
                  float(os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS']))
jax.config.update('jax_persistent_cache_min_entry_size_bytes',
                  int(os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES']))

SHARED = pathlib.Path(__file__).resolve().parents[2] / 'shared'
SEQUENCES = SHARED / 'sequences'
NANOTRACK = SHARED / 'weights' / 'nanotrack_v2'
SQUEEZENET_FILE = SHARED / 'weights' / 'squeezenet_deep_compression' / 'compressed_SqueezeNet.net'


@pytest.fixture(scope='session')
def tiny():
  """(params, config) of the tiny model, seed 0."""
  config = model.get_config('tiny')
  return model.init(jax.random.key(0), config), config


@pytest.fixture(scope='session')
def steady(tiny):
  """The tiny model with its head set to predict about the window's own box.

  A random network shrinks boxes to nothing within a few frames, which the
  tracker's guards then hold at 1 pixel; these parameters keep predictions in a
  sane range (the centred box plus a state-dependent perturbation), so that
  comparisons exercise the procedure rather than the guards.
  """
  params, config = tiny
  params = dict(params)
  params['fc_output'] = {'w': params['fc_output']['w'] * 0.3,
                         'b': jnp.asarray(boxes_lib.CENTERED_BOX, jnp.float32)}
  return params, config


@pytest.fixture(scope='session')
def scored():
  """Like `steady`, with the tower's last activation correlated (``correlation``): a tiny model
  whose tracks get a confidence score (`re3_jax.tracking.confidence`); `tiny` has none."""
  config = model.get_config('tiny', correlation=True)
  params = dict(model.init(jax.random.key(0), config))
  params['fc_output'] = {'w': params['fc_output']['w'] * 0.3,
                         'b': jnp.asarray(boxes_lib.CENTERED_BOX, jnp.float32)}
  return params, config


@pytest.fixture(scope='session')
def cpu_devices_env():
  """``env(n)``: the environment for a subprocess whose JAX sees `n` CPU devices.

  The caller's XLA flags are kept (e.g. ``--xla_cpu_max_isa=AVX2`` to imitate
  a CPU without AVX-512), and so is the shared compilation cache.
  """
  def env(n: int) -> dict[str, str]:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}"
    return dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS='cpu')
  return env


@pytest.fixture(scope='session')
def sequences_dir():
  if not SEQUENCES.is_dir():
    pytest.skip(f'real sequences not found at {SEQUENCES} (they sit beside the checkout)')
  return SEQUENCES


@pytest.fixture(scope='session')
def squeezenet_file():
  """The shared copy of the Deep Compression SqueezeNet release."""
  if not SQUEEZENET_FILE.is_file():
    pytest.skip(f'pretrained SqueezeNet not found at {SQUEEZENET_FILE} (shared/ sits beside the '
                'checkout)')
  return SQUEEZENET_FILE


@pytest.fixture(scope='session')
def nanotrack_dir():
  """NanoTrack v2's models beside the checkout (``../shared/weights/nanotrack_v2``)."""
  from re3_jax.evaluation import baselines  # pylint: disable=g-import-not-at-top
  if not all((NANOTRACK / f).is_file() for f in baselines.NANOTRACK_FILES):
    pytest.skip(f'NanoTrack v2 models not found in {NANOTRACK} (they sit beside the checkout)')
  if not baselines.available('opencv_nano'):
    pytest.skip('NanoTrack needs OpenCV 4.7 or later (cv2.TrackerNano)')
  return NANOTRACK


@pytest.fixture(scope='session')
def nanotrack_backbone():
  """NanoTrack v2's backbone.onnx beside the checkout (what the nanotrack tower reads)."""
  path = NANOTRACK / 'backbone.onnx'
  if not path.is_file():
    pytest.skip(f'NanoTrack v2 backbone not found at {path} (shared/ sits beside the checkout)')
  return path


@pytest.fixture(scope='session')
def readme_commands():
  """``commands(needle)``: the READMEs' ``python3 -m`` commands (from their bash blocks,
  continued lines joined, split as a shell does) that contain `needle`: what tests run as
  written."""
  import shlex  # pylint: disable=g-import-not-at-top
  # A command shown in two READMEs (the front door and its area's details) counts once.
  import readme_lines  # pylint: disable=g-import-not-at-top
  lines = list(dict.fromkeys(line for readme in readme_lines.READMES
                             for line in readme_lines.readme_command_lines(readme)))

  def commands(needle: str) -> list[list[str]]:
    return [shlex.split(line) for line in lines if needle in line]
  return commands


def pytest_collection_modifyitems(config, items):
  """Tests marked `slow` first: with pytest-xdist they start at once on every worker and
  the quick ones fill in around them, instead of one slow test ending the run alone."""
  del config
  items.sort(key=lambda item: item.get_closest_marker('slow') is None)  # stable sort
