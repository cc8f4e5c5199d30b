"""What a training run keeps in its workdir: checkpoints, the metrics log, the workdir itself.

* `Checkpoints`: orbax checkpoints of the parameters, the optimiser state and
  JSON metadata (`metric_sums` among it, for an exact resume), restoring the
  newest that restores (`Checkpoints.restore_newest`).
* `MetricsWriter`: TensorBoard scalars and ``metrics.jsonl`` lines, which a
  resumed run continues after its checkpoint's step (`drop_lines_after`).
* `check_workdir`, `lock_workdir` (one training run at a time in a workdir: a second one
  is refused, naming the process that holds ``WORKDIR/.lock``), `write_atomic`, `to_global`.

`loop.train` runs them; its docstring describes the workdir's layout.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pathlib
import shutil
import sys
from typing import Any, Iterator

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
import orbax.checkpoint as ocp

from re3_jax.core import digests
from re3_jax.core import outputs
from re3_jax.model import checkpoints
from re3_jax.training import train_step


class Checkpoints:
  """Orbax checkpoints of params, optimiser state and JSON metadata.

  Each step's folder gets a checksum manifest (``<step>/SHA256SUMS``, `digests`) once orbax
  has finished writing it (saves are asynchronous: at the next save and at `close`), and a
  step is checked against it before it restores (a mismatch makes it damaged: see
  `restore_newest`). A step without one (a run of an earlier version, or killed between its
  write and its manifest) restores unchecked.
  """

  def __init__(self, directory: pathlib.Path, keep: int):
    self.directory = directory
    self._made = not directory.exists()  # by this run: `remove_if_unused` may take it away
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                           create=True)
    self.manager = ocp.CheckpointManager(directory, options=options,
                                         item_names=('params', 'opt_state', 'meta'))
    self._pending: int | None = None  # the step orbax may still be writing
    self._failed = False

  def remove_if_unused(self) -> None:
    """Removes the folder if this run made it and wrote no checkpoint in it (only the model's
    ``config.json``): a run that failed before its first checkpoint leaves no empty folder."""
    if not self._made or not self.directory.is_dir():
      return
    if any(p.name != checkpoints.CONFIG_FILE for p in self.directory.iterdir()):
      return
    (self.directory / checkpoints.CONFIG_FILE).unlink(missing_ok=True)
    self.directory.rmdir()

  def latest(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: train_step.TrainState, meta: dict) -> None:
    with self._writing():
      self.manager.wait_until_finished()
      self._write_manifests()
      self._pending = step
      self._write(step, state, meta)

  def _write(self, step: int, state: train_step.TrainState, meta: dict) -> None:
    self.manager.save(step, args=ocp.args.Composite(
        params=ocp.args.StandardSave(state.params),
        opt_state=ocp.args.StandardSave(state.opt_state),
        meta=ocp.args.JsonSave(meta)))

  @contextlib.contextmanager
  def _writing(self) -> Iterator[None]:
    """Turns a failed write into one `CheckpointWriteError` (orbax's logs of it held back)
    and removes orbax's temporary folders; see the class docstring."""
    try:
      with checkpoints.held_back_orbax_errors() as held:
        yield
    except (OSError, ValueError) as e:
      self._failed = True
      for tmp in self.directory.glob('*.orbax-checkpoint-tmp*'):
        shutil.rmtree(tmp, ignore_errors=True)
      kept = sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())
      raise checkpoints.CheckpointWriteError(
          f'cannot write the checkpoint of step {self._pending} in {self.directory}: '
          f'{checkpoints.write_error_reason(e)}; the checkpoints of steps '
          f'{", ".join(map(str, kept)) or "(none)"} are kept') from e
    sys.stderr.write(held.getvalue())

  def _write_manifests(self) -> None:
    """A manifest for each finished step without one (process 0; after `wait_until_finished`)."""
    if jax.process_index() != 0:
      return
    for step in self.manager.all_steps():
      folder = self.directory / str(step)
      if folder.is_dir() and not (folder / digests.MANIFEST).exists():
        digests.write_manifest(folder)

  def restore(self, step: int, abstract: train_step.TrainState):
    digests.verify_manifest(self.directory / str(step))
    out = self.manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(abstract.params),
        opt_state=ocp.args.StandardRestore(abstract.opt_state),
        meta=ocp.args.JsonRestore()))
    checkpoints.check_finite(out['params'], 'its parameters')
    return out['params'], out['opt_state'], out['meta']

  def restore_newest(self, abstract: train_step.TrainState):
    """(step, params, opt_state, meta) of the newest checkpoint that restores.

    A damaged newer step (unreadable files or metadata, non-finite parameters)
    is named in a warning with its error, and once an older one has restored it
    is moved aside to ``<step>.damaged`` (`checkpoints.set_aside`): kept, and
    out of the way of the checkpoint this run writes at that step again.

    Raises:
      checkpoints.DamagedCheckpointError: no checkpoint restores (nothing is
        moved then); the message names the directory and each step's error.
    """
    def restore(step):
      try:
        return self.restore(step, abstract)
      except Exception as e:  # pylint: disable=broad-except  (damage shows in many ways)
        raise checkpoints.DamagedCheckpointError.of(self.directory / str(step), e) from e

    step, restored, damaged = checkpoints.newest_that_restores(
        sorted(self.manager.all_steps(), reverse=True), restore, self.directory)
    if damaged:
      self._set_aside(damaged)
    return (step,) + restored

  def _set_aside(self, steps: list[int]) -> None:
    if jax.process_count() > 1:  # every process has tried the damaged steps
      multihost_utils.sync_global_devices('re3_jax: checkpoints restored')
    if jax.process_index() == 0:
      for step in steps:
        moved = checkpoints.set_aside(self.directory / str(step))
        logging.warning('resuming from an older checkpoint: the damaged step %d is kept as %s',
                        step, moved)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices('re3_jax: damaged checkpoints set aside')
    self.manager.reload()

  def close(self):
    if self._failed:  # the error is on its way: close without writing or raising again
      with contextlib.suppress(Exception), checkpoints.held_back_orbax_errors():
        self.manager.close()
      return
    with self._writing():
      self.manager.wait_until_finished()
      self._write_manifests()
    self.manager.close()


def to_global(tree, sharding):
  """Host values (the same on every process) -> global arrays with `sharding`.

  Unlike `jax.device_put`, this works when the mesh spans several processes.
  """
  def put(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      data = put(jax.random.key_data(x))
      return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
  return jax.tree.map(put, tree)


def write_atomic(path: pathlib.Path, text: str) -> None:
  with outputs.atomic_output(path) as tmp:
    tmp.write_text(text)


def metric_sums(acc, steps: int) -> dict[str, Any]:
  """The metrics summed since the last log, for a checkpoint's metadata.

  Exact: each sum is a float32 (or other dtype's) value, which a JSON double
  holds without rounding.
  """
  sums = {k: [v.item(), str(v.dtype)] for k, v in jax.device_get(acc or {}).items()}
  return {'steps': steps, 'sums': sums}


def restore_metric_sums(state: dict[str, Any] | None, sharding):
  """`metric_sums`' (sums, steps) back on the devices; (None, 0) for checkpoints without them."""
  if not state or not state['steps']:
    return None, 0
  sums = {k: np.asarray(v, np.dtype(dtype)) for k, (v, dtype) in state['sums'].items()}
  return to_global(sums, sharding), int(state['steps'])


def drop_lines_after(jsonl: pathlib.Path, step: int) -> None:
  """Rewrites ``metrics.jsonl`` (atomically) without its lines of steps after `step`.

  A run resumed from a checkpoint at `step` logs the later steps again (a
  killed run may have logged some past its last checkpoint). A last line that
  does not parse (cut short by the kill) goes too; other lines that do not
  parse are kept as they are.
  """
  lines = jsonl.read_text().splitlines(keepends=True)
  kept = []
  for n, line in enumerate(lines):
    try:
      after = json.loads(line)['step'] > step
    except (ValueError, KeyError, TypeError):
      after = n == len(lines) - 1
    if not after:
      kept.append(line if line.endswith('\n') else line + '\n')
  if kept != lines:
    write_atomic(jsonl, ''.join(kept))
    logging.info('%s: dropped %d line(s) logged after step %d', jsonl, len(lines) - len(kept),
                 step)


class MetricsWriter:
  """TensorBoard scalars and ``metrics.jsonl`` lines (process 0); no TensorBoard event files if
  tensorboardX is missing.

  ``metrics.jsonl`` keeps its lines up to step `logged_through` (-1: none)
  and continues after them; the TensorBoard events of a resumed run start
  with TensorBoard's purge marker at step ``logged_through + 1``, so the
  events an earlier process wrote past its checkpoint are hidden, not shown
  twice.
  """

  def __init__(self, directory: pathlib.Path, jsonl: pathlib.Path, logged_through: int):
    self.writer = self.jsonl = None
    if jax.process_index() != 0:
      return
    if jsonl.exists():
      drop_lines_after(jsonl, logged_through)
    self.jsonl = jsonl.open('a')
    try:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    except ImportError:
      logging.warning('tensorboardX is not installed: no TensorBoard event files')
      return
    first = logged_through + 1
    # The suffix keeps a run resumed within the same second from overwriting the earlier
    # file (the name is otherwise time and host) and sorts the files in step order.
    self.writer = SummaryWriter(str(directory), purge_step=first if first > 0 else None,
                                filename_suffix=f'.from_step_{first:010d}')

  def scalars(self, step: int, values: dict[str, float]) -> None:
    if self.writer is not None:
      for name, value in values.items():
        self.writer.add_scalar(name, value, step)
      self.writer.flush()
    if self.jsonl is not None:
      self.jsonl.write(json.dumps(dict(values, step=step)) + '\n')
      self.jsonl.flush()

  def close(self):
    if self.writer is not None:
      self.writer.close()
    if self.jsonl is not None:
      self.jsonl.close()


def check_workdir(workdir: str | pathlib.Path) -> None:
  """Checks that `workdir` is a folder or can be made one (before any set-up).

  Raises:
    NotADirectoryError: `workdir`, or a folder above it, is a file.
  """
  workdir = pathlib.Path(workdir)
  for path in (workdir, *workdir.parents):
    if path.is_dir():
      return
    if path.exists():
      raise NotADirectoryError(f'workdir {workdir} is a file, not a folder' if path == workdir
                               else f'workdir {workdir} cannot be made: {path} is a file')


LOCK_FILE = '.lock'


class WorkdirInUseError(OSError):
  """Another training run holds the workdir's lock; the message names its process."""


@contextlib.contextmanager
def lock_workdir(workdir: str | pathlib.Path) -> Iterator[pathlib.Path]:
  """Holds ``workdir/.lock`` (``fcntl.flock``, exclusive) for the block: one run per workdir.

  Two runs in one workdir would both write checkpoints (one then dies in orbax) and log
  each step twice. The lock file keeps the holder's process id (and host) for the error;
  it is released when the block ends or the process dies (the kernel drops a dead
  process's flock, so a stale file locks nothing) and left in place.

  Raises:
    WorkdirInUseError: another process holds the lock; the message names it.
  """
  path = pathlib.Path(workdir) / LOCK_FILE
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES):
        raise
      holder = os.pread(fd, 200, 0).decode(errors='replace').strip() or 'unknown'
      raise WorkdirInUseError(f'workdir {workdir} is in use by another training run (process '
                              f'{holder}, holding {path}): wait for it to end or use another '
                              'workdir') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()} on {os.uname().nodename}\n'.encode(), 0)
    try:
      yield path
    finally:
      fcntl.flock(fd, fcntl.LOCK_UN)
  finally:
    os.close(fd)
