"""The Deep Compression SqueezeNet: decoder, verified download, forward pass."""

import hashlib
import os
import pathlib

import cv2
import jax
import matplotlib
import numpy as np
import pytest

from re3_jax.model import squeezenet

GRACE_HOPPER = (pathlib.Path(matplotlib.__file__).parent / 'mpl-data' / 'sample_data'
                / 'grace_hopper.jpg')


@pytest.fixture(scope='module')
def classifier(squeezenet_file):
  return squeezenet.tower_params(squeezenet.decode(squeezenet_file), classifier=True)


def test_decoded_layers_have_the_prototxt_shapes(squeezenet_file):
  layers = squeezenet.decode(squeezenet_file)
  assert list(layers) == [layer.name for layer in squeezenet.LAYERS]
  assert layers['conv1']['w'].shape == (96, 3, 7, 7)
  assert layers['fire9/conv3x3_2']['w'].shape == (256, 64, 3, 3)
  assert layers['conv_final']['b'].shape == (1000,)
  # Pruned: most of conv_final's weights are the codebook's zero.
  assert np.mean(layers['conv_final']['w'] == 0) > 0.5


def test_top5_of_a_known_photo(classifier):
  """The independent check of the shared weights' README: matplotlib's grace_hopper.jpg
  resized to 227x227 (OpenCV bilinear) gets ImageNet classes 457, 834, 906, 667, 652 and
  probability 0.825 for 457 (bow tie).

  Tolerance on the probability: 0.01. A decoder error (a gap off by one, the wrong
  nibble first, a transposed kernel) moves it by far more or changes the classes;
  float32 rounding of a different summation order across CPUs moves a logit by
  ~1e-5 relative, the probability by well under 1e-3.
  """
  rgb = cv2.cvtColor(cv2.imread(str(GRACE_HOPPER)), cv2.COLOR_BGR2RGB)
  x = cv2.resize(rgb, (227, 227), interpolation=cv2.INTER_LINEAR)[None]
  probs = np.asarray(jax.jit(squeezenet.classify)(classifier, x))[0]
  assert list(np.argsort(-probs)[:5]) == [457, 834, 906, 667, 652]
  assert probs[457] == pytest.approx(0.825, abs=0.01)


def test_tower_cuts_and_taps(classifier):
  x = np.zeros((2, 111, 111, 3), np.float32)
  out, taps = squeezenet.tower(classifier, x, 'fire5', taps=('pool1', 'pool4'))
  # 111 -> conv1 (7x7 / 2, unpadded) 53 -> pool1 (ceil) 26 -> pool4 13.
  assert out.shape == (2, 13, 13, 256)
  assert taps['pool1'].shape == (2, 26, 26, 96)
  assert taps['pool4'].shape == (2, 13, 13, 256)
  with pytest.raises(ValueError, match='pool8'):
    squeezenet.tower(classifier, x, 'fire5', taps=('pool8',))
  with pytest.raises(ValueError, match='unknown SqueezeNet cut'):
    squeezenet.fire_names('fire10')


def test_caffe_ceil_pooling():
  # 4x4 -> ceil((4 - 3) / 2) + 1 = 2 outputs a side; the last window hangs over the edge.
  x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  out = np.asarray(squeezenet.max_pool_ceil(x))[0, ..., 0]
  np.testing.assert_array_equal(out, [[10, 11], [14, 15]])


def _corrupt(tmp_path, data, name='bad.net'):
  path = tmp_path / name
  path.write_bytes(data)
  return path


def test_truncated_and_overlong_files_are_refused(squeezenet_file, tmp_path):
  data = squeezenet_file.read_bytes()
  with pytest.raises(ValueError, match=r'bad\.net: truncated in layer conv_final'):
    squeezenet.decode(_corrupt(tmp_path, data[:-10]))
  with pytest.raises(ValueError, match='3 bytes left over'):
    squeezenet.decode(_corrupt(tmp_path, data + b'abc'))
  with pytest.raises(ValueError, match='too short'):
    squeezenet.decode(_corrupt(tmp_path, b'\0' * 8))


def test_fetch_verifies_a_given_path(squeezenet_file, tmp_path):
  assert squeezenet.fetch(squeezenet_file) == os.fspath(squeezenet_file)
  wrong = _corrupt(tmp_path, squeezenet_file.read_bytes()[:-1] + b'x')
  with pytest.raises(ValueError, match=f'{wrong}.*SHA-256'):
    squeezenet.fetch(wrong)
  with pytest.raises(FileNotFoundError, match='nothing.net'):
    squeezenet.fetch(tmp_path / 'nothing.net')


def test_fetch_downloads_verifies_and_caches(squeezenet_file, tmp_path):
  """The download path, without network: the URL points at the shared copy."""
  cache = tmp_path / 'cache'
  path = squeezenet.fetch(url=squeezenet_file.as_uri(), cache_dir=cache)
  assert pathlib.Path(path).parent == cache
  assert hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest() == squeezenet.SHA256
  # Cached: a second call does not download (the URL is now unreachable).
  assert squeezenet.fetch(url=(tmp_path / 'gone').as_uri(), cache_dir=cache) == path


def test_fetch_refuses_and_does_not_cache_a_wrong_download(tmp_path):
  fake = _corrupt(tmp_path, b'not squeezenet', 'fake.net')
  cache = tmp_path / 'cache'
  with pytest.raises(ValueError, match='the download from .*fake.net has SHA-256'):
    squeezenet.fetch(url=fake.as_uri(), cache_dir=cache)
  assert list(cache.iterdir()) == []
  with pytest.raises(OSError, match='could not download'):
    squeezenet.fetch(url=(tmp_path / 'missing').as_uri(), cache_dir=cache)
