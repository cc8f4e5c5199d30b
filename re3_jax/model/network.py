"""The Re3 network as functions of a plain parameter pytree: `init`, and `modules.Re3` applied.

Layout (reference section 3): a CaffeNet-style conv tower shared by both crops
of a pair, three skip connections (1x1 conv + PReLU), everything flattened in
channel-major (C, H, W) order and concatenated per crop as [conv1_skip,
conv2_skip, conv5_skip, pool5], the two crops as [previous, current]; fc6 with
ReLU; two stacked peephole LSTMs (the second also sees fc6); a linear head
giving the box in the crop frame (x10 convention, see `boxes`).

Other towers (`towers.TOWERS`, chosen by `ModelConfig.tower`) replace the
CaffeNet one: the ``squeeze`` config's ImageNet-pretrained SqueezeNet v1.0
(`squeezenet`) and NanoTrack's tracking-trained backbone (`nanotrack`), each
with skips from an early, a middle and its last layer, each 1x1 conv + PReLU,
the early one max-pooled to the middle one's grid; per crop [early_skip,
middle_skip, last_skip], channel-major; the rest as above. With
`ModelConfig.correlation`, fc6 also sees the pair's `correlation`; with
`ModelConfig.first_template`, also the correlation of the first frame's target
(`template`, one per track) over the current crop.

Parameters are nested dicts named after the original TensorFlow scopes
(``conv1/W_conv`` -> ``params['conv1']['w']``), so weight import is a renaming.

`apply` runs a whole sequence: the conv tower and fc6 over every crop of every
time step in one batched call, then a scan over the LSTM step. The network itself is the
Flax Linen module `modules.Re3` (its layers in `layers`); `apply`, `pair_features`,
`conv_features`, `fc6_layer`, `recurrent` and `lstm_step` apply its methods to a parameter
tree. `init` draws the parameters from one key in the project's fixed order (the values
tests and trained runs depend on), with the tree ``Re3(config).init`` gives.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from re3_jax.model import lstm
from re3_jax.model import modules
from re3_jax.model import tower_base
from re3_jax.model import towers
from re3_jax.model.configs import ModelConfig
from re3_jax.model.modules import correlation  # noqa: F401  (re-exported)
from re3_jax.model.tower_caffenet import MEAN_RGB  # noqa: F401  (re-exported)

Params = dict[str, Any]

# ----------------------------------------------------------------------------
# Initialisation.

def init(key, config: ModelConfig) -> Params:
  """Initial parameters (reference section 6).

  Convs and dense layers are Xavier-uniform (the paper starts conv1-5 from
  ImageNet CaffeNet, which cannot be downloaded here; the squeezenet tower
  starts from ImageNet with `with_pretrained_tower`), PReLU slopes
  0.25, biases 0, the LSTMs as `lstm.init_cell`.
  """
  keys = iter(jax.random.split(key, 48))
  p = towers.get(config.tower).init(keys, config)
  fc6_in = config.fc6_inputs
  p['fc6'] = {'w': tower_base.xavier(next(keys), (fc6_in, config.fc6_units), fc6_in,
                                     config.fc6_units),
              'b': jnp.zeros((config.fc6_units,), jnp.float32)}
  units = config.lstm_units
  p['lstm1'] = lstm.init_cell(next(keys), config.fc6_units, units, config.peepholes,
                              forget_bias_init=config.forget_bias_init)
  p['lstm2'] = lstm.init_cell(next(keys), config.fc6_units + units, units, config.peepholes,
                              forget_bias_init=config.forget_bias_init)
  p['fc_output'] = {'w': tower_base.xavier(next(keys), (units, 4), units, 4),
                    'b': jnp.zeros((4,), jnp.float32)}
  return cast_params(p, config.param_dtype)


def with_pretrained_tower(params: Params, config: ModelConfig,
                          path: str | os.PathLike | None = None) -> Params:
  """`params` with the conv tower replaced by its pretrained weights (`towers.pretrained`).

  `path`: the tower's weights file (squeezenet: the Deep Compression file, None
  downloads and caches the release, checked by SHA-256; nanotrack: NanoTrack v2's
  `backbone.onnx`, checked by SHA-256).
  """
  tower = towers.pretrained(config, path)
  return dict(params, **cast_params(jax.tree_util.tree_map(jnp.asarray, tower),
                                    config.param_dtype))


def cast_params(params: Params, dtype) -> Params:
  """Casts weight matrices and kernels (ndim >= 2) to `dtype`; vectors stay float32."""
  def cast(w):
    if w.ndim >= 2 and jnp.issubdtype(w.dtype, jnp.floating):
      return w.astype(dtype)
    return w
  return jax.tree_util.tree_map(cast, params)


def count_params(params: Params) -> int:
  return sum(int(np.prod(np.shape(x))) for x in jax.tree_util.tree_leaves(params))


def abstract_params(config: ModelConfig) -> Params:
  """Shapes and dtypes of `init(key, config)`, without allocating."""
  return jax.eval_shape(lambda: init(jax.random.key(0), config))


# ----------------------------------------------------------------------------
# Forward pass: the methods of `modules.Re3`, applied to a parameter tree.

def _apply(params: Params, config: ModelConfig, method, *args):
  return modules.Re3(config).apply({'params': params}, *args, method=method)


def conv_features(params: Params, crops, config: ModelConfig):
  """The conv tower and skips: (N, S, S, 3) crops (0..255) -> (N, features_per_crop).

  Features are the tower's blocks in `towers`' order (caffenet: [conv1_skip,
  conv2_skip, conv5_skip, pool5], the original's), each flattened channel-major
  (C, H, W); with `config.correlation`, the tower's last activation follows.
  """
  return _apply(params, config, modules.Re3.conv_features, crops)


def initial_state(batch: int, config: ModelConfig) -> lstm.LSTMState:
  """The zero LSTM state for `batch` sequences."""
  return lstm.LSTMState.zeros(batch, config.lstm_units)


def lstm_step(params: Params, state: lstm.LSTMState, fc6, config: ModelConfig):
  """The two LSTMs and the head for one time step: fc6 (B, F) -> (outputs (B, 4), state)."""
  return _apply(params, config, modules.Re3.lstm_step, state, fc6)


def apply(params: Params, crop_pairs, state: lstm.LSTMState, config: ModelConfig,
          template=None):
  """Runs the network over sequences of crop pairs (`modules.Re3`).

  Args:
    params: the parameter pytree.
    crop_pairs: (B, T, 2, S, S, 3) crops (S = config.crop_size), values 0..255 (uint8 or float);
      pair index 0 is the previous image's crop, 1 the current image's, both
      cut at the same window.
    state: `lstm.LSTMState` with (B, H) leaves, e.g. `initial_state(B, config)`.
    config: the model config.
    template: under `config.first_template`, each sequence's first-frame template
      (B, K, K, C) (`template`), the same for all its steps; else None.

  Returns:
    (outputs, state): outputs (B, T, 4) float32 boxes in the crop frame (x10
    convention) of each step's window; the LSTM state after the last step.
  """
  return _apply(params, config, modules.Re3.__call__, crop_pairs, state, template)


def pair_features(params: Params, crop_pairs, config: ModelConfig, template=None):
  """The conv tower, skips and fc6 of crop pairs: (N, 2, S, S, 3) -> fc6 (N, fc6_units).

  Each pair's two feature vectors are concatenated (previous crop first)
  before fc6. Pairs are independent: any batching of them gives the same
  features (the train step runs every pair of a batch at once). `template`: (N, K, K, C)
  under `config.first_template`.
  """
  return _apply(params, config, modules.Re3.pair_features, crop_pairs, template)


def fc6_layer(params: Params, pair_feats, config: ModelConfig, template=None):
  """fc6 and its ReLU: (N, 2 * features_per_crop) concatenated pair features -> (N, fc6_units).

  With `config.correlation`, each crop's features end with the tower's last activation
  (C, G, G); fc6 sees both crops' features without it, then their `correlation`
  (channel-major); with `config.first_template`, the correlation of each pair's `template`
  (N, K, K, C) over the current crop's last activation.
  """
  return _apply(params, config, modules.Re3.fc6_layer, pair_feats, template)


def template(params: Params, crops, config: ModelConfig):
  """The first-frame templates of (N, S, S, 3) crops cut at the targets' starting boxes:
  (N, K, K, C) float32, the central half of the tower's last activation
  (`config.first_template`; `template_from_features` of `conv_features`)."""
  return _apply(params, config, modules.Re3.template, crops)


def template_from_features(feats, config: ModelConfig):
  """`template` from crops' (N, features_per_crop) `conv_features`: no tower pass."""
  return modules.target_template(feats, config)


def recurrent(params: Params, fc6, state: lstm.LSTMState, config: ModelConfig):
  """The two LSTMs and the head over time: fc6 (B, T, F) -> (outputs (B, T, 4), state).

  A scan of `lstm_step`; what needs the previous step is only this part.
  """
  return _apply(params, config, modules.Re3.recurrent, fc6, state)
