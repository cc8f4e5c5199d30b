"""Tests of `re3_jax.training.records.MetricsWriter`: what a resumed run logs.

TensorBoard hides the events at or past a purge marker's step that were written before
the marker (its ``SessionLog.START`` rule, `tensorboard.backend.event_processing`); the
event files are read here with tensorboardX's own protos and a TFRecord reader.
"""

import json
import pathlib
import struct

import pytest

from re3_jax.training import records

event_pb2 = pytest.importorskip('tensorboardX.proto.event_pb2')


def read_events(directory: pathlib.Path) -> list:
  """Every event of the TFRecord event files in `directory`, files in name order."""
  out = []
  for path in sorted(directory.glob('events.out.tfevents.*')):
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack('<Q', data[pos:pos + 8])
      event = event_pb2.Event()
      event.ParseFromString(data[pos + 12:pos + 12 + length])  # after length and its CRC
      out.append(event)
      pos += 12 + length + 4  # the record and its CRC
  return out


def visible_scalars(events) -> dict[int, float]:
  """step -> value of ``loss`` as TensorBoard shows it: a START marker at step S drops the
  earlier events at steps >= S."""
  shown = []
  for e in events:
    if e.HasField('session_log') and e.session_log.status == event_pb2.SessionLog.START:
      shown = [(step, v) for step, v in shown if step < e.step]
    for value in e.summary.value:
      if value.tag == 'loss':
        shown.append((e.step, value.simple_value))
  assert len({s for s, _ in shown}) == len(shown), shown  # each step once
  return dict(shown)


def test_a_resumed_run_logs_each_step_once(tmp_path):
  tb, jsonl = tmp_path / 'tb', tmp_path / 'metrics.jsonl'
  first = records.MetricsWriter(tb, jsonl, logged_through=-1)
  for step in range(0, 60, 10):  # the process dies after logging step 50; checkpoint at 30
    first.scalars(step, {'loss': float(step)})
  first.close()
  resumed = records.MetricsWriter(tb, jsonl, logged_through=30)
  for step in (40, 50, 60):
    resumed.scalars(step, {'loss': step + 0.5})
  resumed.close()
  expected = {0: 0.0, 10: 10.0, 20: 20.0, 30: 30.0, 40: 40.5, 50: 50.5, 60: 60.5}
  assert visible_scalars(read_events(tb)) == expected
  lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
  assert {line['step']: line['loss'] for line in lines} == expected and len(lines) == 7
