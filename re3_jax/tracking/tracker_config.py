"""Which weights track, and how: `TrackerConfig`, and `build_tracker`, which makes the
`tracker.Re3Tracker` it describes.

Every command line that runs the tracker (``track``, ``evaluate``, ``demo``, ``export``,
``benchmark tracker``) defines its ``--tracker.*`` flags from `TrackerConfig`
(`re3_jax.cli.define_tracker_flags`) and loads its weights here (`load_weights`), so the
rule of which weights is written once. No JAX at import (the command lines read it before
any slow import); JAX and orbax are imported when weights are loaded.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from re3_jax.tracking import shipped

# The original's: an LSTM reset every 32 passes (reference section 7); the tracker's default.
RESET_INTERVAL = 32


def check_reset_interval(reset_interval) -> int:
  """`reset_interval` as an int >= 1 (passes between LSTM resets), or a ValueError."""
  if isinstance(reset_interval, bool) or int(reset_interval) != reset_interval or reset_interval < 1:
    raise ValueError(f'reset_interval must be an integer >= 1, got {reset_interval!r}')
  return int(reset_interval)


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
  """A tracker: its weights, their dtype policy, its LSTM resets, the compilation cache.

  Attributes:
    checkpoint: the weights: a parameters checkpoint directory (`checkpoints.save_params`,
      a training run's WORKDIR/checkpoints, re3_jax.convert's output) or a shipped model's
      name (re3_nano, re3_squeeze); None: the shipped model re3_nano, unless random_model
      is given.
    random_model: RANDOM weights of this named model config (paper, small, tiny, squeeze,
      nano) instead of a checkpoint: the boxes mean nothing; for tests and timing.
    seed: seed of random_model's weights.
    precision: run in this dtype policy (float32, bf16_weights, bfloat16, mixed_bfloat16);
      None: the checkpoint's (float32 for random weights).
    reset_interval: passes between LSTM resets (the original's: 32).
    compilation_cache: JAX's persistent compilation cache, a setting of the whole process
      that `build_tracker` turns on (the `Re3Tracker` argument; `compilation_cache.enable`,
      logged once): a folder, or 'off' (JAX's settings left as they are); None (the
      command lines' default): $RE3_JAX_COMPILATION_CACHE, else ~/.cache/re3_jax/xla.
    recovery: a track whose confidence stays low searches for its first-frame target again
      and resumes where found (`re3_jax.tracking.recovery`, its default layout; on: +0.08
      mean val success, WORKSPACE.md "Recovery (issue 26)"); models without a confidence
      (re3_squeeze) track without it.
  """
  checkpoint: str | None = None
  random_model: str | None = None
  seed: int = 0
  precision: str | None = None
  reset_interval: int = RESET_INTERVAL
  compilation_cache: str | None = None
  recovery: bool = True

  def __post_init__(self):
    from re3_jax import model  # pylint: disable=g-import-not-at-top  (JAX)
    if self.checkpoint and self.random_model:
      raise ValueError(f'give a checkpoint ({self.checkpoint}) or random weights of a model '
                       f'config ({self.random_model}), not both')
    if self.random_model and self.random_model not in model.CONFIGS:
      raise ValueError(f'unknown model config {self.random_model!r} for random weights; '
                       f'known: {sorted(model.CONFIGS)}')
    if self.precision and self.precision not in model.PRECISIONS:
      raise ValueError(f'unknown precision {self.precision!r}; known: {sorted(model.PRECISIONS)}')
    check_reset_interval(self.reset_interval)

  def replace(self, **changes) -> TrackerConfig:
    return dataclasses.replace(self, **changes)

  @property
  def shipped_name(self) -> str | None:
    """The shipped model these weights are (None: a checkpoint directory, or random)."""
    if self.random_model:
      return None
    if not self.checkpoint:
      return shipped.PRETRAINED
    if self.checkpoint in shipped.SHIPPED and not os.path.exists(self.checkpoint):
      return self.checkpoint
    return None

  def describe(self) -> str:
    """The weights in a line, as the command lines name what they run."""
    if self.random_model:
      return f'RANDOM weights of model config {self.random_model!r}, seed {self.seed}'
    name = self.shipped_name
    if name is not None:
      return shipped.describe(name)
    return f'checkpoint {pathlib.Path(self.checkpoint).absolute()}'


def load_weights(config: TrackerConfig):
  """(params, model config) of `config`'s weights, the config under its precision.

  Raises:
    FileNotFoundError: no checkpoint there (or a shipped model missing).
    ValueError: a checkpoint that does not restore.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from re3_jax import model  # pylint: disable=g-import-not-at-top
  from re3_jax.model import checkpoints  # pylint: disable=g-import-not-at-top  (orbax)
  if config.random_model:
    model_config = model.get_config(config.random_model)
    params = model.init(jax.random.key(config.seed), model_config)
  else:
    params, model_config = checkpoints.load_params(shipped.resolve_checkpoint(config.checkpoint))
  if config.precision:
    model_config = model.with_precision(model_config, config.precision)
  return params, model_config


def build_tracker(config: TrackerConfig | None = None):
  """The `tracker.Re3Tracker` that `config` describes (None: the shipped model)."""
  from re3_jax.tracking import tracker  # pylint: disable=g-import-not-at-top  (JAX)
  params, model_config = load_weights(config or TrackerConfig())
  config = config or TrackerConfig()
  from re3_jax.tracking import confidence  # pylint: disable=g-import-not-at-top  (JAX)
  recovery = config.recovery and confidence.available(model_config)
  return tracker.Re3Tracker(params, model_config, reset_interval=config.reset_interval,
                            compilation_cache=config.compilation_cache, recovery=recovery)
