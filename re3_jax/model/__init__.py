"""The Re3 network and its parameters.

``from re3_jax import model`` gives the network's API (`configs`: the configs and dtype
policies; `network`: ``init``,
``apply`` = ``pair_features`` (tower, fc6) then ``recurrent`` (LSTMs, head),
``conv_features``, ``template`` (the first-frame template), ``initial_state``, applying the
Flax Linen modules of `modules`: ``Re3``, ``PeepholeLSTMCell``; their layers in `layers`, the
conv towers by name in `towers`); the modules beside it
hold the peephole LSTM cells' arithmetic (`lstm`), dense products under the dtype policy
(`matmul`), parameter checkpoints (`checkpoints`; a run's
averaged and exported by `checkpoint_exports`) and the pretrained SqueezeNet tower
(`squeezenet`). Imports `re3_jax.core` only (of this project's packages).
"""

from re3_jax.model.configs import (
    CONFIGS, DTYPES, PRECISIONS, ModelConfig, ModelOverrides, get_config, with_precision)
from re3_jax.model.network import (
    MEAN_RGB, Params, abstract_params, apply, cast_params, conv_features, count_params,
    fc6_layer, init, initial_state, lstm_step, pair_features, recurrent, template,
    template_from_features, with_pretrained_tower)
from re3_jax.model.modules import PeepholeLSTMCell, Re3

__all__ = ['CONFIGS', 'DTYPES', 'MEAN_RGB', 'PRECISIONS', 'ModelConfig', 'ModelOverrides', 'Params',
           'PeepholeLSTMCell', 'Re3',
           'abstract_params', 'apply', 'cast_params', 'conv_features', 'count_params', 'fc6_layer',
           'get_config', 'init', 'initial_state', 'lstm_step', 'pair_features', 'recurrent',
           'template', 'template_from_features', 'with_precision', 'with_pretrained_tower']
