"""Runs a command; prints its wall time and the peak of its whole process tree's summed RSS.

  python tools/peak_rss.py -- python3 -m pytest -q -n 2 tests

`/usr/bin/time -v` reports the largest single process; a pytest-xdist run or a test that
starts subprocesses holds several at once, and this adds them up (sampled every 0.2 s from
/proc, Linux only). Exits with the command's status.
"""

import os
import subprocess
import sys
import time


def _children() -> dict[int, list[int]]:
  tree: dict[int, list[int]] = {}
  for entry in os.listdir('/proc'):
    if not entry.isdigit():
      continue
    try:
      with open(f'/proc/{entry}/stat') as f:
        ppid = int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
      continue
    tree.setdefault(ppid, []).append(int(entry))
  return tree


def _rss_bytes(pid: int) -> int:
  try:
    with open(f'/proc/{pid}/statm') as f:
      return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
  except (OSError, IndexError, ValueError):
    return 0


def tree_rss(root: int) -> int:
  """Summed RSS of `root` and all its descendants, in bytes."""
  tree, total, todo = _children(), 0, [root]
  while todo:
    pid = todo.pop()
    total += _rss_bytes(pid)
    todo.extend(tree.get(pid, ()))
  return total


def main(argv: list[str]) -> int:
  if '--' in argv:
    argv = argv[argv.index('--') + 1:]
  if not argv:
    print(__doc__, file=sys.stderr)
    return 2
  start = time.monotonic()
  proc = subprocess.Popen(argv)
  peak = 0
  while proc.poll() is None:
    peak = max(peak, tree_rss(proc.pid))
    time.sleep(0.2)
  wall = time.monotonic() - start
  print(f'peak_rss.py: wall {wall:.0f} s ({wall / 60:.1f} min), peak summed RSS '
        f'{peak / 2**30:.2f} GiB, exit status {proc.returncode}', file=sys.stderr)
  return proc.returncode


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
