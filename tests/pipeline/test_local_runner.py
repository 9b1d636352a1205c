"""Runner logic that needs no pipeline run: the home lock and the span plan."""
import multiprocessing
import os

import pytest

from ctpipe.home import Home, HomeBusyError
from pipeline import local_runner, window


def _hold_lock(root, ready, release):
  with Home(root).locked():
    ready.set()
    release.wait(30)


def test_second_run_on_the_same_home_fails_fast_with_the_holder(tmp_path):
  ctx = multiprocessing.get_context('fork')
  ready, release = ctx.Event(), ctx.Event()
  holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
  holder.start()
  try:
    assert ready.wait(30)
    with pytest.raises(HomeBusyError, match=f'pid {holder.pid}'):
      with Home(str(tmp_path)).locked():
        pass
  finally:
    release.set()
    holder.join(30)
  with Home(str(tmp_path)).locked():  # free again
    assert os.path.exists(tmp_path / '.lock')


def test_ctpipe_run_on_a_busy_home_exits_4_before_loading_tensorflow(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from tests.conftest import REPO  # pylint: disable=g-import-not-at-top
  ctx = multiprocessing.get_context('fork')
  ready, release = ctx.Event(), ctx.Event()
  holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
  holder.start()
  try:
    assert ready.wait(30)
    started = time.monotonic()
    probe = ('import runpy, sys\n'
             f'sys.argv = ["ctpipe", "run", "--home", {str(tmp_path)!r}]\n'
             'try:\n  runpy.run_module("ctpipe.cli", run_name="__main__")\n'
             'except SystemExit as e:\n  print("exit", e.code, "tensorflow" in sys.modules)\n')
    proc = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    seconds = time.monotonic() - started
  finally:
    release.set()
    holder.join(30)
  assert proc.stdout.strip().splitlines()[-1] == 'exit 4 False', proc.stdout + proc.stderr
  assert f'pid {holder.pid}' in proc.stderr and seconds < 15, (seconds, proc.stderr)


def test_plan_backfills_only_window_spans_never_ingested():
  plan = window.plan(available=[1, 2, 3, 4, 5], ingested=[3], validated=[3],
                                 window_spans=3)
  assert plan.window == [3, 4, 5] and plan.newest == 5 and plan.backfill == [4]


def test_plan_reports_rejected_spans_and_does_not_retry_them():
  plan = window.plan(available=[1, 2, 3], ingested=[1, 2], validated=[1],
                                 window_spans=3)
  assert plan.backfill == [] and plan.excluded == [2]


def test_a_span_the_gate_stopped_leaves_the_window_and_an_older_one_takes_its_place():
  plan = window.plan(available=[1, 2, 3, 4, 5], ingested=[1, 2, 3, 4], validated=[1, 2, 3],
                     window_spans=4)
  assert plan.window == [1, 2, 3, 5] and plan.excluded == [4] and plan.backfill == []
  assert window.describe(plan.window) == '1, 2, 3, 5'
  assert window.describe([2, 3, 4, 5]) == '2..5'
  # What the resolver will take after the newest span passes the gate: the same spans.
  assert window.window([1, 2, 3, 5], newest=5, window_spans=4) == plan.window


def test_a_definition_naming_a_column_the_schema_lacks_is_one_line_naming_the_key():
  import dataclasses  # pylint: disable=g-import-not-at-top
  from tests.conftest import CURATED_SCHEMA, PROJECT  # pylint: disable=g-import-not-at-top
  local_runner.check_definition_against_schema(PROJECT.dataset, CURATED_SCHEMA)  # taxi's: fine
  features = dataclasses.replace(PROJECT.dataset.features,
                                 numbers=PROJECT.dataset.features.numbers + ('fares',))
  broken = dataclasses.replace(PROJECT.dataset, features=features)
  with pytest.raises(ValueError, match=r"^dataset.features.numbers names 'fares', which the "
                                       r"curated schema .* does not have"):
    local_runner.check_definition_against_schema(broken, CURATED_SCHEMA)
