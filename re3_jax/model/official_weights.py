r"""Imports the official Re3 weights into a re3_jax checkpoint.

Command line (`re3_jax.convert`)::

  python -m re3_jax.convert --source=PATH --format=tf|pytorch --out=DIR

Two sources (reference section 5):

* ``tf``: a TensorFlow 1 checkpoint of the official tracker (a checkpoint
  prefix such as ``logs/checkpoints/model.ckpt-260946``, one of its files,
  or the directory holding it and its ``checkpoint`` file). Both layouts are read: the paper
  model (full-matrix peephole LSTMs ``lstm{1,2}/rnn/LSTM/{block_input,
  input_gate,forget_gate,output_gate}/{weights,biases}``) and the small model
  that the official code offers for download today (TF ``LSTMCell`` with
  diagonal peepholes, ``lstm{1,2}/rnn/lstm_cell/{kernel,bias,w_*_diag}``).
  Adam slots, ``beta1_power``, ``beta2_power`` and ``global_step`` are ignored.
* ``pytorch``: the official PyTorch port's state_dict of the paper model
  (``.pt``/``.pth``, as ``torch.save`` writes it since torch 1.6), whose dense
  weights are [out, in] and conv weights [out, in/groups, kh, kw].

The model config is inferred from the shapes: the paper and small models get
the named configs ``model.CONFIGS['paper']`` / ``['small']``; other widths
(e.g. reduced-size test checkpoints) get a `model.ModelConfig` with the same
structure and the widths found. TF's ``LSTMCell`` adds its forget bias 1.0 at
run time (it is not in the stored bias): the converted config keeps
``forget_bias=1.0`` and the bias as stored, so ``lstm.cell_step`` performs TF's
own sum ``f + 1 + w_f_diag * c_prev``. The paper cell stores its forget bias in
the bias (``forget_bias=0.0``).

Every variable is checked: a missing, unexpected or mis-shaped one is an error
that names it (and both shapes). TensorFlow is imported only when reading a TF
checkpoint, so this module imports without it; a PyTorch file is read without
torch (`torch_files`: ``torch.save``'s zip format, by a restricted unpickler that
refuses any global a state_dict does not need).

The output is a `checkpoints.save_params` directory (``config.json`` and
``params/``), which ``Re3Tracker.from_checkpoint(DIR)`` and
``checkpoints.load_params(DIR)`` restore.
"""


from __future__ import annotations

import os
import pathlib

from re3_jax import model
from re3_jax.model import tf_weights
from re3_jax.model import torch_weights

FORMATS = ('tf', 'pytorch')


def load(source: str | os.PathLike, format: str):  # pylint: disable=redefined-builtin
  """Reads and converts `source` in `format` ('tf' or 'pytorch'): (params, config)."""
  if format == 'tf':
    return tf_weights.from_tf_checkpoint(source)
  if format == 'pytorch':
    return torch_weights.from_pytorch_state_dict(source)
  raise ValueError(f'unknown format {format!r}; known: {list(FORMATS)}')


def convert(source: str | os.PathLike, format: str,  # pylint: disable=redefined-builtin
            out: str | os.PathLike) -> tuple[pathlib.Path, model.ModelConfig]:
  """Converts official weights to a re3_jax parameters checkpoint.

  Args:
    source: the TF checkpoint (prefix or directory) or the PyTorch state_dict file.
    format: 'tf' or 'pytorch'.
    out: the output directory; it must not hold a checkpoint already.

  Returns:
    (the output directory's absolute path, the model config stored with it).
  """
  if format not in FORMATS:
    raise ValueError(f'unknown format {format!r}; known: {list(FORMATS)}')
  from re3_jax.model import checkpoints  # pylint: disable=g-import-not-at-top  (orbax)
  out = pathlib.Path(out).absolute()
  if (out / checkpoints.PARAMS_DIR).exists() or (out / checkpoints.CONFIG_FILE).exists():
    raise FileExistsError(f'{out} already holds a checkpoint; choose another --out')
  params, config = load(source, format)
  return checkpoints.save_params(out, params, config), config
