r"""Imports the official Re3 weights, or exports a trained model: ``python -m re3_jax.convert
--source=PATH --format=tf|pytorch|re3 --out=DIR``.

``tf`` and ``pytorch``: the official weights (`re3_jax.model.official_weights`: its
docstring says what is read and checked). ``re3``: a re3_jax checkpoint (a training
run's ``WORKDIR/checkpoints``: its latest step) re-saved as parameters alone under
``--precision`` (default ``bf16_weights``, half the size; how the shipped model was
made, `checkpoints.export_params`). The output is a parameters checkpoint that
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
_OUT = flags.DEFINE_string('out', None, 'Output directory (a re3_jax parameters checkpoint).',
                           required=True)


def main(argv):
  del argv
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if _FORMAT.value == 're3':
    from re3_jax.model import checkpoints  # pylint: disable=g-import-not-at-top  (orbax)
    out, config = checkpoints.export_params(_SOURCE.value, _OUT.value, _PRECISION.value)
  else:
    out, config = official_weights.convert(_SOURCE.value, _FORMAT.value, _OUT.value)
  print(f'converted {_SOURCE.value} ({_FORMAT.value}) -> {out}\n'
        f'model: {weight_shapes.describe(config)}; '
        f'{model.count_params(model.abstract_params(config)):,} parameters')


if __name__ == '__main__':
  cli.run(main)
