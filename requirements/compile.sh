#!/usr/bin/env bash
# Regenerates the lock files from pyproject.toml's ranges (run from anywhere; needs `uv`):
#   test.txt:  everything the test suite needs (README command 2, .ci/run);
#   train.txt: training and tracking only (README command 1), pinned to the same versions.
# Both are resolved for Python 3.11 on Linux x86_64 and checked to resolve unchanged for 3.12.
# After regenerating, run the whole suite before committing: the files promise versions the
# suite passed with.
set -euo pipefail
cd "$(dirname "$0")/.."
compile() { uv pip compile pyproject.toml --quiet --python-platform x86_64-manylinux_2_28 "$@"; }
compile --extra test --python-version 3.11 -o requirements/test.txt
compile --python-version 3.11 --constraint requirements/test.txt -o requirements/train.txt
for lock in test train; do
  extra=(); [ "$lock" = test ] && extra=(--extra test)
  compile "${extra[@]}" --python-version 3.12 --constraint "requirements/$lock.txt" --no-header \
    -o "/tmp/re3_jax_$lock.py312.txt"
  if ! diff <(grep -v '^ *#' "requirements/$lock.txt") <(grep -v '^ *#' "/tmp/re3_jax_$lock.py312.txt"); then
    echo "requirements/$lock.txt resolves differently for Python 3.12" >&2
    exit 1
  fi
done
echo "requirements/test.txt and requirements/train.txt: resolved for Python 3.11 and 3.12"
