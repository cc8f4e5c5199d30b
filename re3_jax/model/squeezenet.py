"""SqueezeNet v1.0 (Iandola et al. 2016): its layers, the Deep Compression file, the forward pass.

The ImageNet-pretrained tower of the `squeeze` Re3 (`configs.CONFIGS`) comes
from the compressed release of Deep Compression (Han et al.; repository
songhan/SqueezeNet-Deep-Compression, BSD licence): 26 convolutions pruned and
quantised to an 8-bit codebook, 675,763 bytes. `decode` reads that file
(format below) into Caffe-layout arrays; `tower_params` turns them into this
project's HWIO parameter dicts; `tower` runs the network up to a cut (the Flax module
`layers.SqueezeNet`) and
`classify` the whole classifier (what a decoder's test checks against a known
classification).

The file (little-endian), as the release's own decoder reads it:

1. 26 `uint32`: the number of stored entries ``n_l`` of each layer, in the
   order of `LAYERS`.
2. For each layer: a 256-entry `float32` codebook; one `float32` bias per
   output channel; ``n_l`` code bytes (indices into the codebook); then
   ``ceil(n_l / 2)`` bytes of 4-bit gaps, low nibble first. Entry ``k`` sits at
   flat position ``p_k = p_{k-1} + gap_k + 1`` of the (out, in, kh, kw) C-order
   kernel, ``p_{-1} = -1``; positions no entry names hold ``codebook[0]``.
3. Nothing is left over.

Caffe conventions of the network: BGR input minus the mean (104, 117, 123),
not scaled; max pools 3x3 stride 2 with the output size rounded up;
`conv_final` is a 1x1 convolution with padding 1 (its border is its bias).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from re3_jax.core import digests

# Fire modules: (name, squeeze channels, expand channels of each branch).
FIRES = (('fire2', 16, 64), ('fire3', 16, 64), ('fire4', 32, 128), ('fire5', 32, 128),
         ('fire6', 48, 192), ('fire7', 48, 192), ('fire8', 64, 256), ('fire9', 64, 256))
# Max pools follow these layers (pool1, pool4, pool8).
POOL_AFTER = ('conv1', 'fire4', 'fire8')
BGR_MEAN = (104.0, 117.0, 123.0)
NUM_CLASSES = 1000


class Layer(NamedTuple):
  name: str
  shape: tuple[int, int, int, int]  # Caffe (out, in, kh, kw)


def _layers() -> tuple[Layer, ...]:
  layers = [Layer('conv1', (96, 3, 7, 7))]
  cin = 96
  for name, s, e in FIRES:
    layers += [Layer(f'{name}/conv1x1_1', (s, cin, 1, 1)),
               Layer(f'{name}/conv1x1_2', (e, s, 1, 1)),
               Layer(f'{name}/conv3x3_2', (e, s, 3, 3))]
    cin = 2 * e
  layers.append(Layer('conv_final', (NUM_CLASSES, cin, 1, 1)))
  return tuple(layers)


LAYERS = _layers()

# Where the release is published, and the file's identity.
FILE_NAME = 'compressed_SqueezeNet.net'
URL = ('https://raw.githubusercontent.com/songhan/SqueezeNet-Deep-Compression/'
       'fb13faa2cf121ced9999f8a9d538ec6c56084733/' + FILE_NAME)
SHA256 = 'e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261'
FILE_SIZE = 675_763


def decode(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
  """Reads a Deep Compression SqueezeNet file.

  Args:
    path: the `compressed_SqueezeNet.net` file.

  Returns:
    {layer name: {'w': (out, in, kh, kw) float32, 'b': (out,) float32}} for
    every layer of `LAYERS`.

  Raises:
    ValueError: naming the file and the layer, when the file is truncated, has
      bytes left over, or names a position outside a layer's kernel.
  """
  path = os.fspath(path)
  with open(path, 'rb') as f:
    data = f.read()
  header = 4 * len(LAYERS)
  if len(data) < header:
    raise ValueError(f'{path}: {len(data)} bytes, too short for the {header}-byte header of a '
                     'Deep Compression SqueezeNet file')
  counts = np.frombuffer(data, '<u4', len(LAYERS)).astype(np.int64)
  pos = header
  out = {}
  for layer, n in zip(LAYERS, counts):
    size = int(np.prod(layer.shape))
    cout = layer.shape[0]
    need = 4 * 256 + 4 * cout + n + (n + 1) // 2
    if pos + need > len(data):
      raise ValueError(f'{path}: truncated in layer {layer.name} (needs {need} bytes at offset '
                       f'{pos}, the file has {len(data)})')
    codebook = np.frombuffer(data, '<f4', 256, pos)
    pos += 4 * 256
    bias = np.frombuffer(data, '<f4', cout, pos).copy()
    pos += 4 * cout
    codes = np.frombuffer(data, np.uint8, n, pos)
    pos += n
    packed = np.frombuffer(data, np.uint8, (n + 1) // 2, pos)
    pos += (n + 1) // 2
    gaps = np.stack([packed & 0x0F, packed >> 4], axis=1).reshape(-1)[:n].astype(np.int64)
    positions = np.cumsum(gaps + 1) - 1
    if n and positions[-1] >= size:
      raise ValueError(f'{path}: layer {layer.name} names weight {positions[-1]} of a '
                       f'{size}-weight kernel; the file is not this network\'s')
    w = np.full(size, codebook[0], np.float32)
    w[positions] = codebook[codes]
    out[layer.name] = {'w': w.reshape(layer.shape), 'b': bias}
  if pos != len(data):
    raise ValueError(f'{path}: {len(data) - pos} bytes left over after the {len(LAYERS)} layers; '
                     'not a Deep Compression SqueezeNet v1.0 file')
  return out


def default_cache_dir() -> str:
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 're3_jax')


def fetch(path: str | os.PathLike | None = None, *, url: str = URL,
          cache_dir: str | os.PathLike | None = None) -> str:
  """The path of a verified copy of the pretrained SqueezeNet file.

  Args:
    path: a copy the user has; checked against `SHA256` and returned.
    url: where to download from when `path` is None and the cache lacks it
      (the release's public repository; tests point it at a local file).
    cache_dir: where downloads are kept (default ``~/.cache/re3_jax``).

  Raises:
    ValueError: the file (given or downloaded) is not the release, by SHA-256;
      a download that fails the check is deleted, not cached.
    OSError: the file is missing or the download failed (the message names
      the URL).
  """
  if path is not None:
    path = os.fspath(path)
    if not os.path.isfile(path):
      raise FileNotFoundError(f'pretrained SqueezeNet file {path} not found')
    _verify(path, f'{path}')
    return path
  cache_dir = os.fspath(cache_dir or default_cache_dir())
  cached = os.path.join(cache_dir, FILE_NAME)
  if os.path.isfile(cached) and digests.sha256(cached) == SHA256:
    return cached
  os.makedirs(cache_dir, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix='.part')
  try:
    with os.fdopen(fd, 'wb') as dst:
      try:
        with urllib.request.urlopen(url, timeout=60) as src:
          shutil.copyfileobj(src, dst)
      except OSError as e:
        raise OSError(f'could not download the pretrained SqueezeNet from {url}: {e}; '
                      'download it yourself and pass its path') from e
    _verify(tmp, f'the download from {url}')
    os.replace(tmp, cached)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return cached


def _verify(path: str, what: str) -> None:
  digest = digests.sha256(path)
  if digest != SHA256:
    raise ValueError(f'{what} has SHA-256 {digest}, not the Deep Compression SqueezeNet '
                     f'release\'s {SHA256} ({FILE_NAME}, {FILE_SIZE:,} bytes)')


# ----------------------------------------------------------------------------
# Parameters and the forward pass (NHWC).

Params = dict[str, Any]
_DN = ('NHWC', 'HWIO', 'NHWC')


def tower_params(caffe: dict[str, dict[str, np.ndarray]], cut: str = 'fire9',
                 classifier: bool = False) -> Params:
  """Caffe-layout layers (`decode`) -> {'conv1': {'w', 'b'}, 'fire2': {'squeeze', 'expand1x1',
  'expand3x3'}, ...}, kernels HWIO float32, up to `cut` (the whole classifier if `classifier`).

  The two expand convolutions stay two: one 3x3 kernel holding the 1x1 at
  its centre costs 1.1-1.2x more on this project's CPU (the tower to fire5
  on two 127x127 crops: 8.3 vs 6.9 ms).
  """
  def conv(layer):
    w = np.transpose(caffe[layer.name]['w'], (2, 3, 1, 0))
    return {'w': np.ascontiguousarray(w, np.float32),
            'b': np.asarray(caffe[layer.name]['b'], np.float32)}

  layout = tower_layout('fire9' if classifier else cut)
  if classifier:
    layout['conv_final'] = LAYERS[-1]
  return jax.tree.map(conv, layout, is_leaf=lambda x: isinstance(x, Layer))


def tower_layout(cut: str) -> dict[str, Any]:
  """The tower's parameter tree up to `cut`, each leaf the Caffe `Layer` it holds.

  {'conv1': Layer, 'fire2': {'squeeze': Layer, 'expand1x1': Layer, 'expand3x3': Layer}, ...}:
  the structure of `tower_params` and of a random tower (`network.init`).
  """
  layers = {layer.name: layer for layer in LAYERS}
  layout = {'conv1': layers['conv1']}
  for name, _, _ in fire_names(cut):
    layout[name] = {'squeeze': layers[f'{name}/conv1x1_1'],
                    'expand1x1': layers[f'{name}/conv1x1_2'],
                    'expand3x3': layers[f'{name}/conv3x3_2']}
  return layout


def pretrained_tower(cut: str, path: str | os.PathLike | None = None) -> Params:
  """The ImageNet-pretrained tower up to `cut`: `tower_params(decode(fetch(path)), cut)`."""
  return tower_params(decode(fetch(path)), cut)


def fire_names(cut: str):
  """The fire modules up to and including `cut` ('conv1' or 'fire2'..'fire9')."""
  names = ['conv1'] + [f[0] for f in FIRES]
  if cut not in names:
    raise ValueError(f'unknown SqueezeNet cut {cut!r}; one of {names}')
  return FIRES[:names.index(cut)]


def _conv(x, p, stride=1, padding='SAME'):
  w = p['w'].astype(x.dtype)
  y = lax.conv_general_dilated(x, w, (stride, stride), padding, dimension_numbers=_DN)
  return y + p['b'].astype(x.dtype)


def max_pool_ceil(x):
  """Caffe's 3x3 stride-2 max pool, output size rounded up (padding with -inf at the end)."""
  h, w = x.shape[1:3]
  pad = [(0, 0)] + [(0, (-(n - 3)) % 2) for n in (h, w)] + [(0, 0)]
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), pad)


def tower(params: Params, x, cut: str, taps: tuple[str, ...] = ()):
  """SqueezeNet from preprocessed NHWC input up to the output of `cut` (`layers.SqueezeNet`).

  Args:
    params: `tower_params` (at least up to `cut`).
    x: (N, H, W, 3) input in the network's convention (BGR minus `BGR_MEAN`).
    cut: the last layer run ('conv1': after pool1, or a fire module).
    taps: layer names whose outputs to return as well ('pool1', 'pool4',
      'pool8' or fire modules run before `cut`).

  Returns:
    (output of `cut`, {tap: activation}).
  """
  from re3_jax.model import layers  # layers imports this module
  return layers.SqueezeNet(cut, tuple(taps)).apply({'params': params}, x)


def preprocess(rgb):
  """(N, H, W, 3) RGB values 0..255 -> the network's input (BGR minus the mean), float32."""
  return rgb[..., ::-1].astype(jnp.float32) - jnp.asarray(BGR_MEAN, jnp.float32)


def classify(params: Params, rgb):
  """ImageNet class probabilities of (N, 227, 227, 3) RGB images (0..255): (N, 1000)."""
  x, _ = tower(params, preprocess(rgb), 'fire9')
  x = jax.nn.relu(_conv(x, params['conv_final'], padding=((1, 1), (1, 1))))
  return jax.nn.softmax(jnp.mean(x, axis=(1, 2)), axis=-1)
