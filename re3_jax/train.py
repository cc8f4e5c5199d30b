r"""Trains Re3: ``python -m re3_jax.train --flagfile=experiments/NAME.flags --workdir=DIR``.

Flags on the command line override the flagfile; an unknown flag is an error.
The effective flags are written to ``DIR/flags.txt`` (a flagfile that reruns
the same training). A workdir with checkpoints is resumed. All the work is in
`re3_jax.training.loop.train`; this file only turns flags into a `TrainConfig`.

Several hosts: pass ``--coordinator_address=HOST:PORT --num_processes=N
--process_id=I`` (or set them in the environment that
``jax.distributed.initialize`` reads on TPU pods and SLURM); each host then
feeds its share of every batch.
"""

from __future__ import annotations

import pathlib

from absl import app
from absl import flags
import jax

from re3_jax import cli
from re3_jax import model
from re3_jax.input import pipeline
from re3_jax.training import curriculum as curriculum_lib
from re3_jax.training import loop
from re3_jax.training import train_step

_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints and logs go.', required=True)
_MODEL = flags.DEFINE_enum('model', 'small', sorted(model.CONFIGS), 'Model config.')
_PRECISION = flags.DEFINE_enum('precision', 'float32', sorted(model.PRECISIONS),
                               'Dtype policy (bfloat16 computes in bfloat16).')
_INPUT_SCALE = flags.DEFINE_float(
    'input_scale', 1.0, 'Factor on the mean-subtracted crops (1: the original; ~1/64 trains '
    'from scratch, see model.ModelConfig.input_scale).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of parameters, steps and input.')
_STEPS = flags.DEFINE_integer('steps', 0, 'Total train steps (0: until the curriculum ends).')
# Curriculum.
_STAGES = flags.DEFINE_string('stages', '2x64,4x32,8x16,16x8,32x4',
                              'Curriculum stages UNROLLSxBATCH (global batch).')
_SELF_TRAIN = flags.DEFINE_string('self_train', '0.25,0.5,0.75,0.75,0.75',
                                  'Self-training probability per stage.')
_ADVANCE = flags.DEFINE_enum('advance', 'plateau', ['plateau', 'steps'],
                             'Advance stages on a loss plateau or after stage_steps.')
_STAGE_STEPS = flags.DEFINE_list('stage_steps', [], "Steps per stage (advance='steps').")
_PLATEAU_WINDOW = flags.DEFINE_integer('plateau_window', 500, 'Plateau rule: window (steps).')
_PLATEAU_PATIENCE = flags.DEFINE_integer('plateau_patience', 3,
                                         'Plateau rule: windows without improvement.')
_PLATEAU_MIN_STEPS = flags.DEFINE_integer('plateau_min_steps', 1000,
                                          'Plateau rule: minimum steps in a stage.')
_PLATEAU_MIN_IMPROVEMENT = flags.DEFINE_float('plateau_min_improvement', 0.01,
                                              'Plateau rule: relative improvement that counts.')
_STAGE_MAX_STEPS = flags.DEFINE_integer('stage_max_steps', 0,
                                        'Advance after this many steps in a stage (0: no limit).')
# Optimiser and windows.
_LEARNING_RATE = flags.DEFINE_float('learning_rate', 1e-5, 'Adam learning rate.')
_WEIGHT_DECAY = flags.DEFINE_float('weight_decay', 5e-4, 'L2 factor (sum v^2 / 2).')
_GRAD_CLIP = flags.DEFINE_float('grad_clip_norm', 0.0, 'Global-norm clipping (0: off).')
_MIN_COVERAGE = flags.DEFINE_float('min_coverage', 0.7,
                                   'A crop window covers at least this much of the true box.')
_SCAN_UNROLL = flags.DEFINE_integer(
    'scan_unroll', 0,
    'Unroll factor of the scan over time (0: the default, see train_step.default_scan_unroll).')
_CENTRED_HEAD = flags.DEFINE_bool('centred_head', True,
                                  'Start the output bias at the centred box (not 0).')
# Data.
_MIXTURE = flags.DEFINE_string('mixture', 'procedural=1',
                               'Sources and weights, e.g. imagenet_vid=0.45,alov300=0.05,'
                               'imagenet_det=0.5.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Where the TFDS datasets were built.')
_FRAME_SIZE = flags.DEFINE_list('frame_size', ['400', '400'], 'Canvas HEIGHT,WIDTH.')
_THREADS = flags.DEFINE_integer('input_threads', 4, 'Input pipeline threads.')
_WORKERS = flags.DEFINE_integer('input_workers', 0, 'Input pipeline worker processes.')
# Logging, checkpoints, validation.
_LOG_EVERY = flags.DEFINE_integer('log_every', 50, 'Steps between progress lines.')
_CHECKPOINT_EVERY = flags.DEFINE_integer('checkpoint_every', 1000, 'Steps between checkpoints.')
_KEEP = flags.DEFINE_integer('keep_checkpoints', 3, 'Checkpoints kept.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', 0, 'Steps between validations (0: never).')
_EVAL_CLIPS = flags.DEFINE_integer('eval_clips', 8, 'Held-out procedural clips.')
_EVAL_FRAMES = flags.DEFINE_integer('eval_frames', 64, 'Frames per validation clip.')
# Several hosts.
_COORDINATOR = flags.DEFINE_string('coordinator_address', None,
                                   'HOST:PORT of process 0 for jax.distributed.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes (hosts) in the run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process.')
_DISTRIBUTED = flags.DEFINE_bool('distributed', False,
                                 'Call jax.distributed.initialize() with its environment '
                                 'auto-detection (TPU pods, SLURM).')


def config_from_flags() -> loop.TrainConfig:
  """The `TrainConfig` the flags describe."""
  stages = curriculum_lib.parse_stages(_STAGES.value, _SELF_TRAIN.value)
  cur = curriculum_lib.CurriculumConfig(
      stages=stages, advance=_ADVANCE.value,
      stage_steps=tuple(int(s) for s in _STAGE_STEPS.value),
      window=_PLATEAU_WINDOW.value, patience=_PLATEAU_PATIENCE.value,
      min_steps=_PLATEAU_MIN_STEPS.value, min_rel_improvement=_PLATEAU_MIN_IMPROVEMENT.value,
      max_steps=_STAGE_MAX_STEPS.value)
  if len(_FRAME_SIZE.value) != 2:
    raise app.UsageError(f'--frame_size must be HEIGHT,WIDTH, got {_FRAME_SIZE.value}')
  data = pipeline.PipelineConfig(
      mixture=pipeline.parse_mixture(_MIXTURE.value), data_dir=_DATA_DIR.value,
      frame_size=tuple(int(v) for v in _FRAME_SIZE.value), num_threads=_THREADS.value,
      num_workers=_WORKERS.value)
  optim = train_step.OptimConfig(learning_rate=_LEARNING_RATE.value,
                                 weight_decay=_WEIGHT_DECAY.value,
                                 grad_clip_norm=_GRAD_CLIP.value, min_coverage=_MIN_COVERAGE.value)
  return loop.TrainConfig(
      model=_MODEL.value, precision=_PRECISION.value, input_scale=_INPUT_SCALE.value,
      seed=_SEED.value, steps=_STEPS.value,
      optim=optim, curriculum=cur, data=data, centred_head=_CENTRED_HEAD.value,
      scan_unroll=_SCAN_UNROLL.value,
      log_every=_LOG_EVERY.value, checkpoint_every=_CHECKPOINT_EVERY.value,
      keep_checkpoints=_KEEP.value, eval_every=_EVAL_EVERY.value, eval_clips=_EVAL_CLIPS.value,
      eval_frames=_EVAL_FRAMES.value)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.quiet_library_logs()
  if _COORDINATOR.value or _DISTRIBUTED.value:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  try:
    config = config_from_flags()
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  workdir = pathlib.Path(_WORKDIR.value).expanduser()
  if jax.process_index() == 0:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / 'flags.txt').write_text(flags.FLAGS.flags_into_string())
  print(f'training {config.model} ({config.precision}) on {jax.device_count()} '
        f'{jax.default_backend()} device(s), {jax.process_count()} process(es), workdir {workdir}',
        flush=True)
  result = loop.train(config, workdir)
  print(f'done: step {result["step"]}, stage {result["stage"] + 1}', flush=True)


if __name__ == '__main__':
  app.run(main)
