"""A watcher killed during Trainer leaves nothing half-published; restarted, it finishes the
span without ingesting it again.

The real `ctpipe watch --once` is started in its own process group and SIGKILLed as
soon as ML Metadata shows a running Trainer execution: no clean-up code gets a chance
to run. The restarted watcher takes the unfinished span up again from its ledger.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from ctpipe.continuous import ledger as ledger_lib
from ctpipe.continuous import readiness
from ctpipe.home import Home
from ctpipe.metadata import reader as metadata
from pipeline import definition
from pipeline.components.atomic_pusher import publishing
from tests.conftest import SETTINGS
from tests.conftest import sample_spans

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

EPOCHS_LONG_ENOUGH_TO_BE_KILLED = 500


def _wait_for_running_trainer(home: Home, proc: subprocess.Popen,
                              timeout_s: float = 300) -> int:
  deadline = time.time() + timeout_s
  while time.time() < deadline:
    assert proc.poll() is None, 'the run ended before Trainer started'
    if os.path.exists(home.metadata_path):
      try:
        reader = metadata.MetadataReader.open_sqlite(home.metadata_path,
                                                     SETTINGS.pipeline_name)
        running = [e for e in reader.executions_after(0)
                   if e.node_id == definition.TRAINER and e.state == 'RUNNING']
      except RuntimeError:
        # The file exists before the run has created MLMD's tables, and a read-only
        # connection cannot create them: poll again.
        running = []
      if running:
        return running[0].id
    time.sleep(0.5)
  pytest.fail('Trainer never started')


def _watch(home, data, epochs):
  return [sys.executable, '-m', 'ctpipe.cli', 'watch', '--once', '--home', home.root,
          '--data-root', data, '--window', '1', '--epochs', str(epochs), '--min-auc', '0.5',
          '--no-edge-export', '--set', 'pipeline.thresholds.max_calibration_error=0.5']


def test_watcher_killed_during_trainer_then_restarted_finishes_the_span(tmp_path):
  data = sample_spans(str(tmp_path / 'data'), [(3, 1500)])
  readiness.mark_ready(os.path.join(data, 'span-1'))
  home = Home(str(tmp_path / 'home'))
  proc = subprocess.Popen(_watch(home, data, EPOCHS_LONG_ENOUGH_TO_BE_KILLED),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  try:
    killed_trainer = _wait_for_running_trainer(home, proc)
    time.sleep(2)  # let it get into fitting
  finally:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
  model_base = os.path.join(home.serving_base, SETTINGS.model_name)
  assert publishing.versions(model_base) == []
  assert not os.path.exists(model_base) or os.listdir(model_base) == []
  ledger = ledger_lib.Ledger(os.path.join(home.root, 'watch'))
  assert ledger.unfinished_spans() == [1]

  # The lock died with the killed process: the restart is not refused.
  restarted = subprocess.run(_watch(home, data, 12), capture_output=True, text=True,
                             timeout=900)
  assert restarted.returncode == 0, restarted.stdout + restarted.stderr
  assert 'span 1: trained' in restarted.stdout, restarted.stdout
  assert ledger.unfinished_spans() == [] and ledger.finished_spans() == {1}
  reader = metadata.MetadataReader.open_sqlite(home.metadata_path,
                                               SETTINGS.pipeline_name)
  executions = reader.executions_after(killed_trainer)
  # Everything the killed run finished is reused: the span is not read a second time.
  states = {}
  for execution in executions:
    states.setdefault(execution.node_id, []).append(execution.state)
  for node in (definition.EXAMPLE_GEN, definition.STATISTICS_GEN, definition.TRANSFORM):
    assert set(states[node]) == {'CACHED'}, (node, states[node])
  assert 'COMPLETE' in states[definition.TRAINER]
  ingest_runs = [e for e in reader.executions_after(0)
                 if e.node_id == definition.EXAMPLE_GEN and e.state == 'COMPLETE']
  assert len(ingest_runs) == 1
  # The dead run's Trainer no longer claims to be running.
  assert [e.state for e in reader.executions_after(killed_trainer - 1)
          if e.id == killed_trainer] == ['CANCELED']
  assert publishing.versions(model_base) == [1]
  assert sorted(os.listdir(model_base)) == ['1']
  assert ledger.last_outcome(1)['pushed_version'] == '1'
