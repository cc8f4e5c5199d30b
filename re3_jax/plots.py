r"""Plots a training run's curves.

  python -m re3_jax.plots --workdir=runs/synthetic --out=curve.png

The loss, the batch mean IoU and the validation scores against the step, from
``WORKDIR/metrics.jsonl``; the work is in `re3_jax.training.curves`.
"""

from __future__ import annotations

import pathlib

from absl import flags

from re3_jax import cli
from re3_jax.training import curves

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training workdir.', required=True)
_OUT = flags.DEFINE_string('out', 'training_curves.png', 'Where to write the PNG.')
_TITLE = flags.DEFINE_string('title', '', 'Figure title.')


def main(argv):
  del argv
  rows = curves.read_metrics(pathlib.Path(_WORKDIR.value).expanduser() / 'metrics.jsonl')
  print(f'wrote {curves.training_curves(rows, _OUT.value, _TITLE.value)}')


if __name__ == '__main__':
  cli.run(main)
