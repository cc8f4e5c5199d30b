"""The training loop: curriculum stages, data-parallel steps, logging, checkpoints, resume.

`train(config, workdir)` runs one training run; `python -m re3_jax.train` is
its command line. What it writes under ``workdir``:

* ``checkpoints/<step>/{params,opt_state,meta}`` (orbax; atomic, the last
  ``keep_checkpoints`` kept, written asynchronously) and
  ``checkpoints/config.json`` (the model config). ``meta`` holds the step, the
  RNG key, the curriculum stage and its plateau statistics, the input
  iterator's state and the metrics summed since the last log, so a resumed run
  continues exactly: its parameters, and the lines it logs, are those of an
  uninterrupted run. A run resumes from its newest checkpoint that restores: a
  damaged newer one (unreadable files or metadata, non-finite parameters) is
  named in a warning with its error and moved aside to
  ``checkpoints/<step>.damaged``, never deleted; when none restores, the
  error names the directory and each step's error. The tracker and
  evaluation restore the parameters alone:
  ``checkpoints.load_params(workdir + '/checkpoints')``.
* ``train_config.json`` (the effective `TrainConfig`), TensorBoard event
  files in ``tb/`` and the same scalars as JSON lines in ``metrics.jsonl``
  (process 0 only). A resumed run first drops the lines of steps after its
  checkpoint (a killed run may have logged some), so each step is logged once.
* ``.lock``: held by the run (``fcntl.flock``; it keeps the holder's process id): a second
  run in the same workdir is refused with an error naming that process
  (`records.lock_workdir`).

Metrics stay on the device and are averaged over the ``log_every`` steps
between progress lines; only then do they reach the host, and only then is the
loss checked: a non-finite loss (whose update the step skipped) stops training
with its step number, and no checkpoint is written after it, so the last one
on disk is good.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import time
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import progress
from re3_jax.input import pipeline
from re3_jax.model import checkpoints
from re3_jax.model import towers
from re3_jax.tracking import tracker_config
from re3_jax.training import curriculum as curriculum_lib
from re3_jax.training import records
from re3_jax.training import stages as stages_lib
from re3_jax.training import train_step
from re3_jax.training import validation as validation_lib

_NAMED_CONFIG = model.ModelOverrides()  # no changes: the named config as it is


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """A training run.

  Attributes:
    model: the named model config (`model.CONFIGS`) whose values `arch`
      changes.
    precision: `model.PRECISIONS` name (``mixed_bfloat16``: bfloat16 compute
      over float32 weights, the policy for accelerators).
    arch: the architecture, field by field over `model`'s
      (`model.ModelOverrides`: one ``--config.arch.NAME`` per
      `model.ModelConfig` field, e.g. ``--config.arch.input_scale=0.015625``:
      about 1/64 to train from scratch; ``--config.arch.crop_size=111``:
      smaller crops track faster); applied after `precision`, so
      ``arch.dtype`` and ``arch.param_dtype`` win over it.
    pretrained_tower: start the conv tower from its pretrained weights: the
      squeezenet tower from ImageNet (the path of the Deep Compression SqueezeNet
      file, or ``download``: fetched from its public repository and checked by
      SHA-256), the nanotrack tower from NanoTrack v2's ``backbone.onnx`` (its
      path); empty: random.
    init_params: start every parameter from this parameters checkpoint
      (`checkpoints.load_params`: a training run's ``WORKDIR/checkpoints``, an
      export, ``shipped`` for the model shipped with the package, or a shipped
      model's name, `shipped.SHIPPED`), e.g. to
      fine-tune it on your own sequences; its architecture must be `model`'s.
      It holds the tower and the head, so it wins over `pretrained_tower`
      (then not read; a logged warning says so, e.g. when a flagfile such as
      ``real_cpu.flags`` sets it) and `centred_head`.
    seed: seeds parameters, the train step's randomness and the input stream.
    steps: total train steps; 0 runs until the curriculum's last stage ends
      (only with ``advance='steps'`` and a finite last stage).
    optim: loss and optimiser.
    curriculum: stages of (unrolls, batch, self-training probability) and
      when to advance.
    data: the input pipeline.
    centred_head: start the output bias at the centred box [2.5, 2.5, 7.5,
      7.5] (the "no motion" answer) instead of 0, so training from scratch
      starts at a sensible loss. Not in the original (which fine-tuned from
      CaffeNet conv weights).
    scan_unroll: ``lax.scan``'s unroll factor of the train step's
      window-placing pass; 0: rolled (`unroll.place_windows`). The same
      computation either way.
    tower_chunk: crop pairs per call of the conv tower in the train step; -1:
      `unroll.default_tower_chunk` (8 on CPUs, all elsewhere), 0: all the
      batch's pairs in one call.
    remat: rematerialise the tower's activations per chunk in the backward
      pass (less memory, one more tower forward).
    stepwise: run the conv tower inside the scan over time
      (`unroll.unroll_stepwise`, the original structure) instead of
      batched over the whole unroll: the same computation, faster only for
      the tiny model on CPUs (WORKSPACE.md, "Train step speed").
    log_every: steps between progress lines (and host metric reads).
    checkpoint_every: steps between checkpoints (one is also written at the end).
    keep_checkpoints: how many checkpoints to keep.
    eval_every: steps between validation runs (0: never).
    eval_dataset: what validation tracks: empty for held-out procedural clips
      (mean IoU), or a dataset (``otb:ROOT``, see `evaluation.datasets`)
      scored as the evaluation harness scores it (one-pass OTB success and
      precision at 20 px).
    eval_clips: held-out procedural clips the validation tracks.
    eval_frames: frames per validation clip.
  """
  model: str = 'small'
  precision: str = 'float32'
  arch: model.ModelOverrides = _NAMED_CONFIG  # (`model` is a field's name in the class)
  pretrained_tower: str = ''
  init_params: str = ''
  seed: int = 0
  steps: int = 0
  optim: train_step.OptimConfig = train_step.OptimConfig()
  curriculum: stages_lib.CurriculumConfig = stages_lib.CurriculumConfig()
  data: pipeline.PipelineConfig = pipeline.PipelineConfig()
  centred_head: bool = True
  scan_unroll: int = 0
  tower_chunk: int = -1
  remat: bool = False
  stepwise: bool = False
  log_every: int = 50
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  eval_every: int = 0
  eval_dataset: str = ''
  eval_clips: int = 8
  eval_frames: int = 64

  def __post_init__(self):
    model_config = self.model_config()  # a ValueError naming an unknown model or precision
    if self.pretrained_tower:
      try:
        towers.check_pretrained(model_config)
      except ValueError as e:
        raise ValueError(f'pretrained_tower: {e}') from None

  def replace(self, **changes) -> TrainConfig:
    return dataclasses.replace(self, **changes)

  def model_config(self) -> model.ModelConfig:
    """The named config, under `precision`, with `arch`'s changes."""
    return self.arch.apply(model.with_precision(model.get_config(self.model), self.precision))

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, default=list)


# The model's fields that moved under `TrainConfig.arch`: old path -> (new path, old value ->
# new). Their old flags (``--config.crop_size``) stay readable so that a workdir's flags.txt
# written before the move (every flag, these at their defaults included) still resumes it;
# crop_size's old 0 meant "the named config's".
MOVED_FIELDS = {'input_scale': ('arch.input_scale', lambda scale: scale),
                'crop_size': ('arch.crop_size', lambda size: size or None)}


def _initial_params(source: str, model_config: model.ModelConfig):
  """`TrainConfig.init_params`: a checkpoint's parameters, cast to the run's weight dtype."""
  weights = tracker_config.TrackerConfig(checkpoint=None if source == 'shipped' else source)
  params, stored = tracker_config.load_weights(weights)
  if not checkpoints.same_architecture(stored, model_config):
    raise ValueError(f'init_params {source} holds model {stored.name!r}, not the architecture '
                     f'of {model_config.name!r}: '
                     f'{checkpoints.architecture_difference(stored, model_config)}')
  return model.cast_params(jax.tree.map(jnp.asarray, params), jnp.dtype(model_config.param_dtype))


def _centre_head(params):
  head = dict(params['fc_output'])
  head['b'] = jnp.asarray(boxes_lib.CENTERED_BOX, head['b'].dtype)
  return dict(params, fc_output=head)


def train(config: TrainConfig, workdir: str | pathlib.Path, *,
          validation: Callable[[Any], dict[str, float]] | None = None,
          should_stop: Callable[[int], bool] | None = None,
          flagfile: str | None = None) -> dict[str, Any]:
  """Trains (or resumes training) in `workdir`.

  Args:
    config: the run.
    workdir: where checkpoints, logs and the effective config go; a workdir
      with checkpoints is resumed from its newest one that restores (see the
      module docstring).
    validation: ``hook(params) -> metrics`` run every ``eval_every`` steps;
      default `validation.make_validation`.
    should_stop: ``should_stop(step) -> bool``, asked after every step (after that step's
      log, validation and checkpoint); True ends the run there as an interruption would:
      without a final validation or checkpoint (a checkpoint being written is finished),
      so the next `train` in the workdir resumes from the newest checkpoint and goes on
      exactly as an uninterrupted run, the steps after that checkpoint run again. E.g. a
      budget of wall time, stopping at a checkpoint so that nothing is run twice:
      ``lambda step: step % config.checkpoint_every == 0 and time.time() > deadline``.
    flagfile: the command line's flags as a flagfile; written to
      ``workdir/flags.txt`` beside ``train_config.json`` once the workdir is
      accepted, so a refused resume leaves the run's own flags in place.

  Returns:
    The last logged metrics, with ``step`` and ``stage``.

  Raises:
    FloatingPointError: a step's loss was not finite.
    ValueError: the workdir holds a checkpoint of another model, none of its
      checkpoints restores (`checkpoints.DamagedCheckpointError`), or the
      config cannot run (see the messages).
    NotADirectoryError: the workdir is a file (`records.check_workdir`).
    records.WorkdirInUseError: another training run holds the workdir (``WORKDIR/.lock``,
      `records.lock_workdir`); the message names its process.
  """
  workdir = pathlib.Path(workdir).absolute()
  records.check_workdir(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  # One run per workdir (process 0 holds the lock for the hosts of one run).
  with (records.lock_workdir(workdir) if jax.process_index() == 0 else contextlib.nullcontext()):
    return _train(config, workdir, validation=validation, should_stop=should_stop,
                  flagfile=flagfile)


def _train(config: TrainConfig, workdir: pathlib.Path, *,
           validation: Callable[[Any], dict[str, float]] | None,
           should_stop: Callable[[int], bool] | None, flagfile: str | None) -> dict[str, Any]:
  """`train` in a checked, made and locked workdir."""
  model_config = config.model_config()
  mesh = train_step.make_mesh()
  optimizer = train_step.make_optimizer(config.optim, model_config.tower_keys)
  ckpt_dir = workdir / 'checkpoints'
  curriculum = curriculum_lib.Curriculum(config.curriculum)
  total = config.steps
  if total <= 0 and not curriculum.finite:
    raise ValueError('steps=0 runs until the curriculum ends, but its last stage never ends '
                     "(advance='plateau' or a last stage_steps of 0): give steps")
  step_fn = train_step.make_train_step(mesh, model_config=model_config, optim=config.optim,
                                       optimizer=optimizer,
                                       scan_unroll=config.scan_unroll or None,
                                       tower_chunk=(None if config.tower_chunk < 0
                                                    else config.tower_chunk),
                                       remat=config.remat, stepwise=config.stepwise)
  rep = train_step.replicated(mesh)
  ckpts = records.Checkpoints(ckpt_dir, config.keep_checkpoints)
  inputs = writer = None
  failed = False
  try:
    input_state = None
    acc, acc_steps = None, 0  # the metrics summed since the last log (on the device)
    logged_through = -1  # metrics.jsonl's lines up to this step stay (a new run: none)
    if ckpts.latest() is None:
      state = train_step.init_state(jax.random.key(config.seed), model_config, optimizer)
      params = state.params
      if config.init_params:
        if config.pretrained_tower:
          logging.warning('init_params %s holds the tower: pretrained_tower %s is not loaded',
                          config.init_params, config.pretrained_tower)
        params = _initial_params(config.init_params, model_config)
      elif config.pretrained_tower:
        path = None if config.pretrained_tower == 'download' else config.pretrained_tower
        params = model.with_pretrained_tower(params, model_config, path)
      if config.centred_head and not config.init_params:
        params = _centre_head(params)
      state = state._replace(params=params, opt_state=optimizer.init(params))
      step = 0
      if jax.process_index() == 0:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        records.write_atomic(ckpt_dir / checkpoints.CONFIG_FILE, model_config.to_json())
    else:
      stored = checkpoints.load_config(ckpt_dir)
      if not checkpoints.same_architecture(stored, model_config):
        raise ValueError(f'{ckpt_dir} holds checkpoints of another model: '
                         f'{checkpoints.architecture_difference(stored, model_config)}; use '
                         'another workdir or the same model')
      abstract = jax.eval_shape(lambda: train_step.init_state(jax.random.key(0), model_config,
                                                              optimizer))
      abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=rep),
                              abstract)
      step, params, opt_state, meta = ckpts.restore_newest(abstract)
      state = train_step.TrainState(
          params=params, opt_state=opt_state, step=jnp.asarray(meta['step'], jnp.int32),
          key=jax.random.wrap_key_data(jnp.asarray(meta['key'], jnp.uint32)),
          nonfinite_step=jnp.asarray(-1, jnp.int32))
      curriculum.load_state_dict(meta['curriculum'])
      input_state = meta['input']
      acc, acc_steps = records.restore_metric_sums(meta.get('metrics'), rep)
      logged_through = step
      logging.info('resumed %s at step %d (stage %d)', ckpt_dir, step, curriculum.stage_index)
    state = records.to_global(state, rep)
    if jax.process_index() == 0:
      records.write_atomic(workdir / 'train_config.json', config.to_json())
      if flagfile is not None:
        records.write_atomic(workdir / 'flags.txt', flagfile)
    writer = records.MetricsWriter(workdir / 'tb', workdir / 'metrics.jsonl', logged_through)
    validation = validation or (validation_lib.make_validation(config) if config.eval_every
                                else None)

    def validate(step):
      values = validation(state.params)
      writer.scalars(step, values)
      print(f'step {step}: validation ' + ', '.join(f'{k} {v:.4f}' for k, v in values.items()),
            flush=True)
      return values

    def make_input():
      stage = curriculum.stage
      return pipeline.Pipeline(config.data, seq_len=stage.unrolls, batch_size=stage.batch,
                               seed=config.seed, stage=curriculum.stage_index)

    def save(step):
      meta = {'step': step, 'key': np.asarray(jax.random.key_data(state.key)).tolist(),
              'curriculum': curriculum.state_dict(), 'input': inputs.get_state(),
              'metrics': records.metric_sums(acc, acc_steps),
              'model': json.loads(model_config.to_json())}
      ckpts.save(step, state, meta)

    inputs = make_input()
    if input_state is not None:
      inputs.set_state(input_state)
    last: dict[str, Any] = {}
    last_loss = 0.0  # only the plateau rule reads losses, and it gets them at log steps
    tick, tick_step = time.perf_counter(), step
    if validation is not None and config.eval_every and step == 0:
      last.update(validate(0))  # the untrained level
    while (total <= 0 and not curriculum.done) or step < total:
      stage = curriculum.stage
      batch = train_step.shard_batch(mesh, next(inputs))
      state, metrics = step_fn(state, batch, jnp.float32(stage.self_train_prob))
      step += 1
      acc = metrics if acc is None else jax.tree.map(jnp.add, acc, metrics)
      acc_steps += 1
      if step % config.log_every == 0 or step == total:
        if int(state.nonfinite_step) >= 0:
          raise FloatingPointError(
              f'the loss was not finite at step {int(state.nonfinite_step) + 1} (its update was '
              f'skipped); training stopped; the last good checkpoint is in {ckpt_dir} '
              f'(step {ckpts.latest()})')
        means = {k: float(v) / acc_steps for k, v in jax.device_get(acc).items()}
        acc, acc_steps = None, 0
        now = time.perf_counter()
        rate = (step - tick_step) / max(now - tick, 1e-9)
        tick, tick_step = now, step
        means.update(steps_per_s=rate, frames_per_s=rate * stage.batch * stage.unrolls,
                     learning_rate=config.optim.rate_at(step - 1), stage=curriculum.stage_index)
        writer.scalars(step, means)
        print(f'stage {curriculum.stage_index + 1}/{len(config.curriculum.stages)} '
              f'({stage.unrolls}x{stage.batch}) step {step}: {rate:.2f} steps/s '
              f'{means["frames_per_s"]:.0f} frames/s, loss {means["loss"]:.4f} '
              f'(l1 {means["l1"]:.4f}) iou {means["mean_iou"]:.3f} lr '
              f'{means["learning_rate"]:.3g} self-train {stage.self_train_prob:.2f}, '
              f'stage ETA {progress.eta_text(curriculum.steps_left(step), rate)}', flush=True)
        last = dict(means, step=step)
        last_loss = means['loss']
        advanced = curriculum.update(step, last_loss)
      elif curriculum.steps_left(step) == 0:  # a stage boundary between logs (advance='steps')
        advanced = curriculum.update(step, last_loss)
      else:
        advanced = False
      if advanced:
        inputs.close()
        inputs = make_input()
        logging.info('step %d: curriculum advanced to stage %d', step, curriculum.stage_index)
      if validation is not None and config.eval_every and step % config.eval_every == 0:
        last.update(validate(step))
      if step % config.checkpoint_every == 0 and int(state.nonfinite_step) < 0:
        save(step)  # never after a bad step: the next log raises
      if should_stop is not None and should_stop(step):
        ckpts.manager.wait_until_finished()
        return dict(last, step=step, stage=curriculum.stage_index)
    if validation is not None and config.eval_every and step % config.eval_every:
      last.update(validate(step))  # the final level, when no periodic run fell on it
    if int(state.nonfinite_step) < 0 and ckpts.latest() != step:
      save(step)
  except BaseException:
    failed = True
    raise
  finally:
    if inputs is not None:
      inputs.close()
    ckpts.close()
    if failed:
      ckpts.remove_if_unused()  # made by this run and no checkpoint in it
    if writer is not None:
      writer.close()
  return dict(last, step=step, stage=curriculum.stage_index)
