r"""Trains Re3: ``python -m re3_jax.train --flagfile=experiments/NAME.flags --workdir=DIR``.

Every field of `re3_jax.training.loop.TrainConfig` is a flag named by its path
(``--config.optim.learning_rate=1e-4``, ``--config.curriculum.stages=2x64@0.25,4x32@0.5``,
``--config.data.mixture=imagenet_vid=0.5,imagenet_det=0.5``; the architecture:
``--config.model=nano`` names a config of `re3_jax.model.CONFIGS` and
``--config.arch.NAME`` changes any of its `ModelConfig` fields, e.g.
``--config.arch.lstm_units=128``), defined from the
dataclasses themselves (`cli.define_config_flags`): their defaults, types and
docstrings are the flags' (``--helpfull`` lists them). An experiment is a flagfile
of such lines (``experiments/*.flags``); flags on the command line override it;
an unknown or mistyped flag is an error that names it. The effective flags are
written to ``DIR/flags.txt`` (a flagfile that reruns the same training). A
workdir with checkpoints is resumed. All the work is in `loop.train`.

Several hosts: pass ``--coordinator_address=HOST:PORT --num_processes=N
--process_id=I`` (or set them in the environment that
``jax.distributed.initialize`` reads on TPU pods and SLURM); each host then
feeds its share of every batch.
"""

from __future__ import annotations

import pathlib

from absl import flags
import jax

from re3_jax import cli
from re3_jax.training import loop
from re3_jax.training import records

_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints and logs go.', required=True)
_CONFIG = cli.define_config_flags(loop.TrainConfig(), moved=loop.MOVED_FIELDS)
# Several hosts.
_COORDINATOR = flags.DEFINE_string('coordinator_address', None,
                                   'HOST:PORT of process 0 for jax.distributed.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes (hosts) in the run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process.')
_DISTRIBUTED = flags.DEFINE_bool('distributed', False,
                                 'Call jax.distributed.initialize() with its environment '
                                 'auto-detection (TPU pods, SLURM).')


def config_from_flags() -> loop.TrainConfig:
  """The `TrainConfig` the ``--config.*`` flags describe.

  Raises:
    ValueError: a setting the dataclasses' checks refuse, named (`cli.run` prints it as one
      error line, without the usage text).
  """
  return _CONFIG()


def main(argv):
  del argv
  if _COORDINATOR.value or _DISTRIBUTED.value:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  config = config_from_flags()
  workdir = pathlib.Path(_WORKDIR.value).expanduser()
  records.check_workdir(workdir)  # before the set-up
  print(f'training {config.model} ({config.precision}) on {jax.device_count()} '
        f'{jax.default_backend()} device(s), {jax.process_count()} process(es), workdir {workdir}',
        flush=True)
  result = loop.train(config, workdir, flagfile=flags.FLAGS.flags_into_string())
  print(f'done: step {result["step"]}, stage {result["stage"] + 1}', flush=True)


if __name__ == '__main__':
  cli.run(main)
