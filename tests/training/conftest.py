"""Fixtures of the training tests: a tiny model and one batch of the synthetic pipeline."""

import jax
import jax.numpy as jnp
import pytest

from re3_jax import model
from re3_jax.input import batch as batch_lib
from re3_jax.input import pipeline

TINY = model.get_config('tiny')
DATA = pipeline.PipelineConfig(frame_size=(120, 160), sim_size=(96, 128), num_distractors=4,
                               num_threads=1, prefetch=1)


@pytest.fixture(scope='module')
def batch():
  with pipeline.Pipeline(DATA, seq_len=4, batch_size=2, seed=0, process_index=0,
                         process_count=1) as inputs:
    b = next(inputs)
  return batch_lib.Batch(jnp.asarray(b.frames), jnp.asarray(b.valid_sizes), jnp.asarray(b.boxes))


@pytest.fixture(scope='module')
def params():
  return model.init(jax.random.key(0), TINY)


@pytest.fixture(scope='module')
def data_config():
  """The pipeline config of `batch`: small frames, a few distractors."""
  return DATA
