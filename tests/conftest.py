"""Shared fixtures: the tiny model and the real sequences beside the checkout."""

import pathlib

import jax
import pytest

from re3_jax import model

SEQUENCES = pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'sequences'


@pytest.fixture(scope='session')
def tiny():
  """(params, config) of the tiny model, seed 0."""
  config = model.get_config('tiny')
  return model.init(jax.random.key(0), config), config


@pytest.fixture(scope='session')
def sequences_dir():
  if not SEQUENCES.is_dir():
    pytest.skip(f'real sequences not found at {SEQUENCES} (they sit beside the checkout)')
  return SEQUENCES
