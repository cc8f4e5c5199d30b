"""The tracker's `init` and `step` exported with `jax.export` (StableHLO) to one file.

``python -m re3_jax.export`` writes such a file; `re3_jax.tracking.exported` (a
single file importing only JAX and NumPy) runs it where re3_jax is not
installed. The file's layout is in that module's docstring (a zip file; the parameters
deflated: the shipped model's 17.9 MB of bfloat16 take 14.8 MB).

What is exported: `functional.init` and `functional.step` (their jitted bodies; the
host-side input checks stay in the loader, lighter), with

* the parameters as the functions' first argument, stored once in the file
  (not baked into both functions as constants, which would store them twice),
  in the dtype of the config's policy (`functional.prepare_params` with ``pack=False``:
  no CPU-specific packing of large matrices, so one file serves CPUs and GPUs);
  under float32 compute, bfloat16 weights are widened to float32 when loaded
  and passed so (the same values: what the tracker does on CPUs, where XLA
  converts bfloat16 slowly; 2.7x faster steps for the shipped model);
* the number of objects N and the frame size H x W as symbolic dimensions by
  default (one file for any number of objects and any frame size; each new
  shape compiles once when called), or fixed ones if given;
* the LSTM reset interval fixed (32, the original's, unless given);
* lowered for the CPU and CUDA by default (`jax.export` lowers for a platform
  without its device present).
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import zipfile
from typing import Sequence

import jax
from jax import export as jax_export
import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.core import outputs
from re3_jax.model import weight_shapes
from re3_jax.tracking import exported
from re3_jax.tracking import functional
from re3_jax.tracking import tracker_config

PLATFORMS = ('cpu', 'cuda')
SUFFIX = '.re3x'


def _leaf_names(tree) -> list[str]:
  return [weight_shapes.leaf_name(path)
          for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def export_tracker(params, config: model.ModelConfig, *,
                   reset_interval: int = tracker_config.RESET_INTERVAL,
                   frame_size: tuple[int, int] | None = None, objects: int | None = None,
                   platforms: Sequence[str] = PLATFORMS) -> bytes:
  """The tracker of (`params`, `config`) as an exported-tracker file's bytes.

  Args:
    params: the network's parameters (any float dtypes: cast to
      `config.param_dtype`).
    config: the model config.
    reset_interval: passes between LSTM resets (see `functional`).
    frame_size: (H, W) of the frames, or None for any size (symbolic).
    objects: the number of tracks N, or None for any number (symbolic).
    platforms: `jax.export` platform names to lower for ('cpu', 'cuda', 'rocm', 'tpu').

  Returns:
    The bytes of the file (`exported.read` reads them).

  Raises:
    ValueError: parameters not those of `config`, a bad frame size, number of
      objects, reset interval or platform.
  """
  reset_interval = tracker_config.check_reset_interval(reset_interval)
  if frame_size is not None:
    frame_size = tuple(int(s) for s in frame_size)
    if len(frame_size) != 2 or min(frame_size) < 1:
      raise ValueError(f'frame_size must be (H, W) with H, W >= 1, got {frame_size}')
  if objects is not None and (int(objects) != objects or objects < 1):
    raise ValueError(f'objects must be an integer >= 1 or None (any number), got {objects!r}')
  platforms = tuple(platforms)
  unknown = set(platforms) - {'cpu', 'cuda', 'rocm', 'tpu'}
  if not platforms or unknown:
    raise ValueError(f'platforms must be some of cpu, cuda, rocm, tpu, got {platforms}')
  weight_shapes.check_params(params, config, 'the parameters')
  params = functional.prepare_params(params, config, pack=False)
  leaves, treedef = jax.tree_util.tree_flatten(params)
  state_def = jax.tree_util.tree_structure(functional.empty_state(1, config))

  def init(param_leaves, image, boxes):
    p = jax.tree_util.tree_unflatten(treedef, param_leaves)
    return tuple(jax.tree_util.tree_leaves(functional._init(p, image, boxes, config=config)))  # pylint: disable=protected-access

  def step(param_leaves, state_leaves, image):
    p = jax.tree_util.tree_unflatten(treedef, param_leaves)
    state = jax.tree_util.tree_unflatten(state_def, state_leaves)
    box, state = functional._advance(p, state, image, config, reset_interval)  # pylint: disable=protected-access
    return box, tuple(jax.tree_util.tree_leaves(state))

  scope = jax_export.SymbolicScope()
  n = objects if objects is not None else jax_export.symbolic_shape('n', scope=scope)[0]
  if frame_size is None:
    h, w = jax_export.symbolic_shape('h, w', scope=scope)
  else:
    h, w = frame_size
  # float32 compute: bfloat16 weights are passed widened to float32 (the same values; XLA's
  # CPU backend converts bfloat16 slowly, see `prepare_params`) and stored as bfloat16.
  widen = jnp.dtype(config.dtype) == jnp.float32
  arg_dtypes = [jnp.float32 if widen and x.dtype == jnp.bfloat16 else x.dtype for x in leaves]
  param_specs = [jax.ShapeDtypeStruct(x.shape, d) for x, d in zip(leaves, arg_dtypes)]
  image = jax.ShapeDtypeStruct((h, w, 3), jnp.uint8)
  boxes = jax.ShapeDtypeStruct((n, 4), jnp.float32)
  init_exp = jax_export.export(jax.jit(init), platforms=platforms)(param_specs, image, boxes)
  state_specs = tuple(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in init_exp.out_avals)
  step_exp = jax_export.export(jax.jit(step), platforms=platforms)(param_specs, state_specs, image)

  blob = io.BytesIO()
  param_info = []
  for name, x, arg_dtype in zip(_leaf_names(params), leaves, arg_dtypes):
    data = np.asarray(x).tobytes()
    param_info.append({'name': name, 'dtype': str(x.dtype), 'shape': list(x.shape),
                       'offset': blob.tell(), 'size': len(data),
                       'argument_dtype': str(jnp.dtype(arg_dtype))})
    blob.write(data)
  state_names = _leaf_names(functional.empty_state(1, config))
  header = {
      'format': exported.FORMAT, 'version': exported.VERSION,
      'model_config': json.loads(config.to_json()), 'crop_size': config.crop_size,
      'reset_interval': reset_interval,
      'frame_size': None if frame_size is None else list(frame_size),
      'objects': objects, 'platforms': list(platforms), 'jax_version': jax.__version__,
      'params': param_info,
      'state': [{'name': name, 'dtype': str(a.dtype), 'shape': str(a.shape)}
                for name, a in zip(state_names, init_exp.out_avals)],
  }
  members = {exported.HEADER: json.dumps(header, indent=1).encode(),
             exported.INIT: bytes(init_exp.serialize()),
             exported.STEP: bytes(step_exp.serialize()), exported.PARAMS: blob.getvalue()}
  members[exported.SUMS] = exported.sums_text(members).encode()  # the checksum manifest
  out = io.BytesIO()
  with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    for name, data in members.items():
      z.writestr(name, data)
  return out.getvalue()


def check_output(path: str | os.PathLike) -> pathlib.Path:
  """`path` as an absolute path a file can be written at, or an OSError naming the problem."""
  path = pathlib.Path(path).absolute()
  if path.is_dir():
    raise IsADirectoryError(f'output {path} is a folder; give a file name (e.g. '
                            f'{path / ("tracker" + SUFFIX)})')
  parent = path.parent
  if not parent.is_dir():
    what = 'is not a folder' if parent.exists() else 'does not exist'
    raise FileNotFoundError(f'output {path} cannot be written: its folder {parent} {what}')
  if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
    raise PermissionError(f'output {path} cannot be written: permission denied')
  return path


def write(path: str | os.PathLike, data: bytes) -> pathlib.Path:
  """Writes `data` to `path` whole or not at all (`outputs.atomic_output`)."""
  path = check_output(path)
  try:
    with outputs.atomic_output(path) as tmp:
      tmp.write_bytes(data)
  except OSError as e:
    raise type(e)(f'output {path} cannot be written: {e.strerror or e}') from e
  return path


def export_checkpoint(tracker: tracker_config.TrackerConfig, out: str | os.PathLike,
                      **kwargs) -> tuple[pathlib.Path, model.ModelConfig]:
  """Exports the tracker `tracker` describes (its weights, precision and reset interval)
  to the file `out`.

  Args:
    tracker: which weights (`tracker_config.load_weights`: a checkpoint, a shipped model,
      random weights), in which precision, with which reset interval.
    out: the output file; its folder must exist (checked before the export).
    **kwargs: `export_tracker`'s other options.

  Returns:
    (the output's absolute path, the config exported).

  Raises:
    FileNotFoundError: no checkpoint there; an output folder that does not exist.
    ValueError: a checkpoint of an unknown model or one that does not restore.
    OSError: the output cannot be written.
  """
  check_output(out)
  params, config = tracker_config.load_weights(tracker)
  return write(out, export_tracker(params, config, reset_interval=tracker.reset_interval,
                                   **kwargs)), config
