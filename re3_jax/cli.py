"""What every ``python -m re3_jax.*`` command line shares."""

from __future__ import annotations

from absl import flags
from absl import logging


def quiet_library_logs(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Library log records (JAX, orbax, Grain, absl) at WARNING unless the user asked.

  A command prints its own progress lines; orbax alone writes a dozen INFO
  records per checkpoint (one of ~2,000 characters). ``--verbosity=0`` (or
  ``-v 0``; absl's flag) shows INFO records again, ``--verbosity=1`` debug ones.
  Call it first thing in ``main``, before JAX starts its backends.
  """
  if not flag_values['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
