r"""Imports the official Re3 weights, or exports a trained model: ``python -m re3_jax.convert
--source=PATH --format=tf|pytorch|re3 --out=DIR``.

``tf`` and ``pytorch``: the official weights (`re3_jax.model.official_weights`: its
docstring says what is read and checked). ``re3``: a re3_jax checkpoint (a training
run's ``WORKDIR/checkpoints``: its latest step) re-saved as parameters alone under
``--precision`` (default ``bf16_weights``, half the size; how the shipped model was
made, `checkpoint_exports.export_params`); ``--average=N`` exports the mean of the run's N
newest checkpoints instead (the shipped model: N=3). The output is a parameters checkpoint that
``Re3Tracker.from_checkpoint(DIR)`` and ``checkpoints.load_params(DIR)`` restore.
"""

from __future__ import annotations

import os

from absl import flags

from re3_jax import cli
from re3_jax import model
from re3_jax.model import official_weights
from re3_jax.model import weight_shapes

_SOURCE = flags.DEFINE_string('source', None, 'TF checkpoint (prefix or directory) or '
                              'PyTorch state_dict file.', required=True)
_FORMAT = flags.DEFINE_enum('format', None, list(official_weights.FORMATS) + ['re3'],
                            'Format of --source (re3: a re3_jax checkpoint).', required=True)
_PRECISION = flags.DEFINE_enum('precision', 'bf16_weights', sorted(model.PRECISIONS),
                               '--format=re3: the dtype policy to store the parameters in.')
_AVERAGE = flags.DEFINE_integer(
    'average', 1, '--format=re3: export the mean of the N newest checkpoints of --source '
    '(a training run\'s checkpoints folder); 1: the newest alone.', lower_bound=1)
_OUT = flags.DEFINE_string('out', None, 'Output directory (a re3_jax parameters checkpoint).',
                           required=True)


def main(argv):
  del argv
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if _AVERAGE.value != 1 and _FORMAT.value != 're3':
    raise ValueError(f'--average={_AVERAGE.value} applies to --format=re3 only')
  if _FORMAT.value == 're3':
    from re3_jax.model import checkpoint_exports  # pylint: disable=g-import-not-at-top  (orbax)
    out, config = checkpoint_exports.export_params(_SOURCE.value, _OUT.value, _PRECISION.value,
                                                   average=_AVERAGE.value)
  else:
    out, config = official_weights.convert(_SOURCE.value, _FORMAT.value, _OUT.value)
  averaged = f', the mean of its {_AVERAGE.value} newest' if _AVERAGE.value > 1 else ''
  print(f'converted {_SOURCE.value} ({_FORMAT.value}{averaged}) -> {out}\n'
        f'model: {weight_shapes.describe(config)}; '
        f'{model.count_params(model.abstract_params(config)):,} parameters')


if __name__ == '__main__':
  cli.run(main)
