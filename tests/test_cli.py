"""Tests of what the command lines share."""

from absl import flags
from absl import logging
from absl.testing import flagsaver

from re3_jax import cli


def test_library_logs_quiet_unless_verbosity_is_given():
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['prog'])
    logging.set_verbosity(logging.INFO)
    cli.quiet_library_logs()
    assert logging.get_verbosity() == logging.WARNING
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['prog', '--verbosity=0'])  # the user asked for INFO records
    cli.quiet_library_logs()
    assert logging.get_verbosity() == logging.INFO
