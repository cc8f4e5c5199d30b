"""Tests of re3_jax.core.progress: rates, time left, the status line on a terminal and off."""

import io

from re3_jax.core import progress


class _Terminal(io.StringIO):

  def isatty(self):
    return True


def test_rate_and_eta_text():
  assert progress.rate(30, 1.5) == 20.0
  assert progress.rate(0, 1.0) is None and progress.rate(5, 0.0) is None
  assert progress.eta_text(600, 2.0) == '5.0 min'
  assert progress.eta_text(None, 2.0) == '?' and progress.eta_text(10, 0.0) == '?'
  assert progress.eta_text(10, None) == '?'


def test_status_line_in_a_file_writes_a_line_per_update_it_writes():
  out = io.StringIO()
  line = progress.StatusLine(out, interval=3600)
  line.update('frame 1')  # the first update is written
  line.update('frame 2')  # within the interval: kept, not written
  line.update('frame 3/3', final=True)
  line.finish()
  assert out.getvalue() == 'frame 1\nframe 3/3\n'
  assert line.text == 'frame 3/3'


def test_status_line_on_a_terminal_rewrites_in_place():
  out = _Terminal()
  line = progress.StatusLine(out, interval=0)
  line.update('frame 1')
  line.update('frame 2')
  line.finish()
  assert out.getvalue() == '\rframe 1\033[K\rframe 2\033[K\n'


def test_status_line_in_a_file_writes_at_its_own_rate_and_clear_erases_on_a_terminal():
  out = io.StringIO()
  line = progress.StatusLine(out, interval=0, file_interval=3600)  # a log: a modest rate
  for k in range(5):
    line.update(f'frame {k}')
  line.clear()  # nothing to erase in a file
  line.finish()
  assert out.getvalue() == 'frame 0\n'
  term = _Terminal()
  line = progress.StatusLine(term, interval=0, file_interval=3600)  # a terminal: interval
  line.update('frame 1')
  line.update('frame 2')
  line.clear()  # the line is free for other output; finish then adds no empty line
  line.finish()
  assert term.getvalue() == '\rframe 1\033[K\rframe 2\033[K\r\033[K'
