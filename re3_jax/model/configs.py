"""Re3 model configs: the architecture and dtype policy of a network (`ModelConfig`), changes
to it field by field (`ModelOverrides`, derived from it), the named configs (`CONFIGS`: paper,
small, tiny, squeeze, nano, nano_template) and the dtype policies (`PRECISIONS`). ``from re3_jax import model``
re-exports them with the network."""

from __future__ import annotations

import dataclasses
import json
import math
import typing

from re3_jax.core.crops import CROP_SIZE
from re3_jax.model import lstm
from re3_jax.model import towers

DTYPES = ('float32', 'bfloat16')
TOWERS = tuple(towers.TOWERS)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture and dtype policy of a Re3 network.

  Attributes:
    name: a label, stored with checkpoints.
    tower: a name of `towers.TOWERS`: 'caffenet' (the paper's conv1..conv5),
      'squeezenet' (SqueezeNet v1.0 up to `tower_cut`, ImageNet-pretrained weights
      from `squeezenet`) or 'nanotrack' (NanoTrack v2's backbone, trained for
      tracking, from `nanotrack`).
    crop_size: side of the square crops in pixels (caffenet: 227 only).
    tower_cut: the squeezenet tower's last fire module (`tower_squeezenet.CUTS`);
      empty for the other towers.
    conv_channels: output channels of conv1..conv5 (caffenet only).
    skip_channels: channels of the three skip connections (caffenet: conv1,
      conv2, conv5; squeezenet: pool1, pool4, the cut; nanotrack: block1, block3,
      block8).
    fc6_units: width of fc6.
    lstm_units: units of each of the two LSTMs.
    peepholes: 'full' (the paper's cell) or 'diagonal' (TF LSTMCell).
    forget_bias: added to the forget gate at run time (TF LSTMCell: 1.0).
    forget_bias_init: the forget-gate bias's initial value (paper: 1.0).
    dtype: compute dtype, 'float32' or 'bfloat16' (LSTM cell states, gates and
      outputs stay float32).
    param_dtype: dtype of weight matrices and kernels at init, 'float32' or
      'bfloat16' (vectors stay float32).
    input_scale: factor applied to the mean-subtracted crops before conv1. 1.0
      is the original network (and what its weights expect). Training from
      scratch wants about 1/64: with raw pixel offsets of +-128, conv1's
      Xavier weights are so small that each Adam step changes them by about
      their own size, and the network settles on an input-independent
      output (WORKSPACE.md, "Training on the synthetic default").
    feature_scale: factor applied to the tower's activations before the skips
      (1.0: none; caffenet: 1.0 only). The pretrained tower works on raw pixel offsets
      and its activations are in the hundreds (pool4 and fire5 average ~100 on
      real crops); unscaled, fc6 sums thousands of them and saturates the
      LSTMs' gates, and the network learns to output the centred box
      (docs/ARCHITECTURE.md, "The squeeze model"). 1/64 brings them to ~1.
    correlation: also give fc6 the depthwise cross-correlation of the tower's
      last activation over the current crop with the central half of the
      previous crop's (where the target sits: the crop is twice its box),
      averaged over the template's positions (`network.fc6_layer`).
    first_template: also give fc6 the same correlation with the first frame's target (the
      central half of the tower's last activation over the crop at the starting box,
      `network.template`), kept for the whole track: an appearance the network can find
      the target by again after drifting. Needs `correlation`.
  """
  name: str = 'paper'
  tower: str = 'caffenet'
  crop_size: int = CROP_SIZE
  tower_cut: str = ''
  conv_channels: tuple[int, ...] = (96, 256, 384, 384, 256)
  skip_channels: tuple[int, ...] = (16, 32, 64)
  fc6_units: int = 2048
  lstm_units: int = 1024
  peepholes: str = 'full'
  forget_bias: float = 0.0
  forget_bias_init: float = 1.0
  dtype: str = 'float32'
  param_dtype: str = 'float32'
  input_scale: float = 1.0
  feature_scale: float = 1.0
  correlation: bool = False
  first_template: bool = False

  def __post_init__(self):
    if len(self.conv_channels) != 5 or len(self.skip_channels) != 3:
      raise ValueError('conv_channels needs 5 values and skip_channels 3')
    towers.get(self.tower).check(self)
    if self.correlation and towers.get(self.tower).last(self)[1] < 2:
      raise ValueError(f'correlation needs a last activation of at least 2x2; the {self.tower} '
                       f'tower gives {towers.get(self.tower).last(self)[1]} at crop_size '
                       f'{self.crop_size}')
    if self.first_template and not self.correlation:
      raise ValueError('first_template needs correlation (both correlate the tower\'s last '
                       'activation)')
    if self.peepholes not in lstm.PEEPHOLES:
      raise ValueError(f'peepholes must be one of {lstm.PEEPHOLES}, got {self.peepholes!r}')
    for field in ('input_scale', 'feature_scale'):
      value = getattr(self, field)
      if not (math.isfinite(value) and value > 0):
        raise ValueError(f'{field} must be finite and > 0, got {value}')
    for field in ('dtype', 'param_dtype'):
      if getattr(self, field) not in DTYPES:
        raise ValueError(f'{field} must be one of {DTYPES}, got {getattr(self, field)!r}')

  @property
  def features_per_crop(self) -> int:
    """Length of one crop's flattened features (`towers` gives their order)."""
    return towers.features_per_crop(self)

  @property
  def fc6_inputs(self) -> int:
    """Length of fc6's input: both crops' features, and the correlation in place of the
    tower's last activation where `correlation` is on, then the first-frame template's
    under `first_template` (`network.fc6_layer`)."""
    if not self.correlation:
      return 2 * self.features_per_crop
    c, g = towers.get(self.tower).last(self)
    k = g // 2
    correlations = 2 if self.first_template else 1
    return 2 * (self.features_per_crop - c * g * g) + correlations * c * (g - k + 1) ** 2

  @property
  def template_shape(self) -> tuple[int, ...]:
    """Shape of one track's first-frame template, (K, K, C): the central half of the tower's
    last activation, which the features carry under `correlation` (the tracker keeps it for
    its confidence, and `first_template` feeds it to fc6); (0,) without `correlation`."""
    if not self.correlation:
      return (0,)
    c, g = towers.get(self.tower).last(self)
    return (g // 2, g // 2, c)

  @property
  def tower_keys(self) -> tuple[str, ...]:
    """The top-level parameter keys of the conv tower (what a pretrained start fills)."""
    return towers.get(self.tower).keys(self)

  def replace(self, **changes) -> 'ModelConfig':
    return dataclasses.replace(self, **changes)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'ModelConfig':
    d = json.loads(text)
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f'unknown ModelConfig fields {sorted(unknown)}')
    defaults = cls()
    for k, v in d.items():
      want = type(getattr(defaults, k))
      if want is tuple:
        ok = isinstance(v, (list, tuple)) and all(type(x) is int for x in v)
      else:
        ok = type(v) is want or (want is float and type(v) is int)
      if not ok:
        raise ValueError(f'ModelConfig field {k} must be '
                         f'{"a list of integers" if want is tuple else want.__name__}, got {v!r}')
      if want is tuple:
        d[k] = tuple(v)
    return cls(**d)


def _overrides_class() -> type:
  """`ModelOverrides`: one field ``T | None = None`` per field ``T`` of `ModelConfig`,
  derived from it, so a field added to `ModelConfig` is an override (and a training flag,
  ``--config.arch.NAME``) with no other edit."""
  hints = typing.get_type_hints(ModelConfig)
  fields = [(f.name, hints[f.name] | None, dataclasses.field(default=None))
            for f in dataclasses.fields(ModelConfig)]

  def apply(self, config: ModelConfig) -> ModelConfig:
    """`config` with every field set here (not None) replaced (`ModelConfig`'s checks run)."""
    changes = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if getattr(self, f.name) is not None}
    return config.replace(**changes) if changes else config

  cls = dataclasses.make_dataclass('ModelOverrides', fields, frozen=True,
                                   namespace={'apply': apply})
  cls.__module__ = __name__
  attributes = ModelConfig.__doc__[ModelConfig.__doc__.index('  Attributes:'):]
  cls.__doc__ = ('Changes to a named config (`CONFIGS`), field by field; None (the default) '
                 "keeps the named config's value.\n\n" + attributes)
  return cls


ModelOverrides = _overrides_class()


CONFIGS = {
    # The paper's model: 190,004,324 parameters.
    'paper': ModelConfig(),
    # The released TF model (June 2018): 85,699,684 parameters.
    'small': ModelConfig(name='small', fc6_units=1024, lstm_units=512, peepholes='diagonal',
                         forget_bias=1.0, forget_bias_init=0.0),
    # For tests: the same structure, a few thousand times smaller.
    'tiny': ModelConfig(name='tiny', conv_channels=(8, 16, 16, 16, 16), skip_channels=(4, 4, 4),
                        fc6_units=32, lstm_units=16),
    # The first shipped real-video model (weights/re3_squeeze/): SqueezeNet to fire5 at 95x95,
    # sized for >= 100 frames/s on a 2-core CPU (~130) and a checkpoint under 25 MB
    # (docs/ARCHITECTURE.md, "The squeeze model").
    'squeeze': ModelConfig(name='squeeze', tower='squeezenet', crop_size=95, tower_cut='fire5',
                           skip_channels=(8, 16, 32), fc6_units=512, lstm_units=256,
                           peepholes='diagonal', forget_bias=1.0, forget_bias_init=0.0,
                           feature_scale=1 / 64),
    # Re3 on NanoTrack v2's tracking-trained backbone (`nanotrack`) at 127x127: skips from
    # block1 (pooled to 16x16), block3 (16x16) and block8 (8x8), with the pair's correlation;
    # 8.9M parameters, 17.9 MB in bfloat16
    # (docs/ARCHITECTURE.md, "The nano model"); the shipped model (weights/re3_nano/).
    'nano': ModelConfig(name='nano', tower='nanotrack', crop_size=127, skip_channels=(8, 8, 32),
                        fc6_units=512, lstm_units=256, peepholes='diagonal', forget_bias=1.0,
                        forget_bias_init=0.0, correlation=True),
    # `nano` with the first frame's target as a second template (issue 24's recipe table,
    # WORKSPACE.md, "The nano model: training and scores").
    'nano_template': ModelConfig(name='nano_template', tower='nanotrack', crop_size=127,
                                 skip_channels=(8, 8, 32), fc6_units=512, lstm_units=256,
                                 peepholes='diagonal', forget_bias=1.0, forget_bias_init=0.0,
                                 correlation=True, first_template=True),
}


# Dtype policies by name: (compute dtype, weight dtype).
PRECISIONS = {
    'float32': ('float32', 'float32'),
    # bfloat16 weights, float32 compute: on CPUs the tracker packs fc6 (see
    # `matmul`), halving the bytes read per frame.
    'bf16_weights': ('float32', 'bfloat16'),
    'bfloat16': ('bfloat16', 'bfloat16'),
    # bfloat16 compute over float32 weights: training on accelerators. The tower, fc6 and
    # the LSTMs' products run in bfloat16 on bfloat16 copies of the weights; the weights,
    # their gradients and Adam stay float32 (an update of lr 1e-5 is below bfloat16's
    # resolution of a weight, 2^-8 of it), as do LSTM states, gates, outputs and the loss.
    'mixed_bfloat16': ('bfloat16', 'float32'),
}


def with_precision(config: ModelConfig, precision: str) -> ModelConfig:
  """`config` under a named dtype policy (see PRECISIONS)."""
  if precision not in PRECISIONS:
    raise ValueError(f'unknown precision {precision!r}; known: {sorted(PRECISIONS)}')
  dtype, param_dtype = PRECISIONS[precision]
  return config.replace(dtype=dtype, param_dtype=param_dtype)


def get_config(name: str, **overrides) -> ModelConfig:
  """A named config (`CONFIGS`: 'paper', 'small', 'tiny', 'squeeze', 'nano', ...) with optional
  field overrides."""
  if name not in CONFIGS:
    raise ValueError(f'unknown model config {name!r}; known: {sorted(CONFIGS)}')
  return CONFIGS[name].replace(**overrides)
