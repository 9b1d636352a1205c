"""A run killed during Trainer leaves nothing half-published, and the next run completes.

The real `ctpipe run` is started in its own process group and SIGKILLed as soon as ML
Metadata shows a running Trainer execution: no clean-up code gets a chance to run.
"""
import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline import config, definition, local_runner, metadata, publishing, run_summary
from tests.conftest import CURATED_SCHEMA, sample_spans

EPOCHS_LONG_ENOUGH_TO_BE_KILLED = 500


def _wait_for_running_trainer(home: local_runner.Home, proc: subprocess.Popen,
                              timeout_s: float = 300) -> int:
  deadline = time.time() + timeout_s
  while time.time() < deadline:
    assert proc.poll() is None, 'the run ended before Trainer started'
    if os.path.exists(home.metadata_path):
      reader = metadata.MetadataReader.open_sqlite(home.metadata_path,
                                                   config.PipelineSettings().pipeline_name)
      running = [e for e in reader.executions_after(0)
                 if e.node_id == definition.TRAINER and e.state == 'RUNNING']
      if running:
        return running[0].id
    time.sleep(0.5)
  pytest.fail('Trainer never started')


def test_killed_during_trainer_then_next_run_completes(tmp_path):
  data = sample_spans(str(tmp_path / 'data'), [(3, 2500)])
  home = local_runner.Home(str(tmp_path / 'home'))
  cmd = [sys.executable, '-m', 'pipeline.cli', 'run', '--home', home.root, '--data-root', data,
         '--window', '1', '--epochs', str(EPOCHS_LONG_ENOUGH_TO_BE_KILLED), '--min-auc', '0.5']
  proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  try:
    killed_trainer = _wait_for_running_trainer(home, proc)
    time.sleep(2)  # let it get into fitting
  finally:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
  model_base = os.path.join(home.serving_base, config.PipelineSettings().model_name)
  assert publishing.versions(model_base) == []
  assert not os.path.exists(model_base) or os.listdir(model_base) == []

  settings = config.replace_settings(config.PipelineSettings(), window_spans=1, epochs=3,
                                     min_auc=0.5)
  # The edge export is tested elsewhere; here it would only add its 11 s.
  settings = dataclasses.replace(settings, edge_export=False)
  run = local_runner.LocalRun(home, data, CURATED_SCHEMA, settings)
  result = run.run()  # the lock died with the killed process: no HomeBusyError
  assert result.status == 'completed'
  reader = metadata.MetadataReader.open_sqlite(home.metadata_path, settings.pipeline_name)
  summary = run_summary.summarize(reader, result.first_execution_id)
  # Everything the killed run finished is reused; only what it never finished runs.
  for node in (definition.EXAMPLE_GEN, definition.STATISTICS_GEN, definition.TRANSFORM):
    assert node in summary.cached(), node
  assert definition.TRAINER in summary.executed()
  assert summary.pushed_version == '1'
  # The dead run's Trainer no longer claims to be running.
  assert [e.state for e in reader.executions_after(killed_trainer - 1)
          if e.id == killed_trainer] == ['CANCELED']
  assert publishing.versions(model_base) == [1]
  assert sorted(os.listdir(model_base)) == ['1']
