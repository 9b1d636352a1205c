"""End to end with LocalDagRunner and SQLite MLMD on a small sample of the embedded data.

One home is shared by the tests of this module, in order: a first run that blesses
and pushes, and a broken span that the data gate stops through the real `ctpipe run`
command with its exit code. Cache reuse on a re-run is asserted by the watcher-restart
test (tests/pipeline/test_interrupted_run.py); a candidate that is not blessed and pushes nothing
by the replay test (tests/continuous/test_continuous.py).
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from models import raw_examples, signatures
from ctpipe.metadata import reader as metadata
from pipeline import definition, run_summary
from pipeline.components.atomic_pusher import publishing
from pipeline.components.data_gate import anomalies as anomalies_lib
from tests.conftest import CONTRACT, SAMPLE_SETTINGS, read_span, write_span

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

SETTINGS = SAMPLE_SETTINGS()


@pytest.fixture(scope='module')
def env(pushed_home):
  home, _, data, first = pushed_home  # the session's first run on the sample
  return {'data': data, 'home': home, 'first': first}


def _model_base(env):
  return os.path.join(env['home'].serving_base, SETTINGS.model_name)


def test_first_run_executes_every_component_and_pushes(env):
  result = env['first']
  reader = metadata.MetadataReader.open_sqlite(env['home'].metadata_path,
                                               SETTINGS.pipeline_name)
  summary = run_summary.summarize(reader, result.first_execution_id)
  assert result.status == 'completed'
  assert result.plan.backfill == [1] and result.plan.window == [1, 2]
  states = {}
  for e in summary.executions:
    states.setdefault(e.node_id, []).append(e.state)
  for node in definition.INGEST_NODES:
    # Ingested twice: the backfilled span, then the newest one (the schema import is cached).
    assert len(states[node]) == 2, node
  for node in (definition.TRANSFORM, definition.TRAINER, definition.EVALUATOR, definition.PUSHER):
    assert states[node] == ['COMPLETE'], node
  assert summary.blessed is True
  assert summary.baseline == {}  # first run: no baseline, value thresholds only
  assert summary.candidate['auc'] >= 0.8
  assert summary.pushed_version == '1'
  assert summary.serving_check_passed is True and summary.serving_check.startswith('passed')
  assert summary.edge_exported is True, summary.edge_export  # see tests/pipeline/test_edge_export.py
  assert publishing.versions(_model_base(env)) == [1]
  for name in ('saved_model.pb', 'variables', 'assets'):
    assert os.path.exists(os.path.join(_model_base(env), '1', name))


def _raw_rows(n=5):
  header, rows = read_span(3)
  return [dict(zip(header, row)) for row in rows[:n]]


def test_pushed_model_answers_through_both_signatures(env):
  loaded = tf.saved_model.load(os.path.join(_model_base(env), '1'))
  by_examples = loaded.signatures[signatures.DEFAULT_SIGNATURE]
  by_tensors = loaded.signatures[signatures.RAW_SIGNATURE]
  raw_spec = by_tensors.structured_input_signature[1]
  assert set(raw_spec) == set(CONTRACT.model_input_features)  # no label, no timestamp
  rows = _raw_rows()
  from_examples = by_examples(examples=tf.constant([raw_examples.to_tf_example(r, raw_spec) for r in rows]))
  inputs = {}
  for name, spec in raw_spec.items():
    values = [r[name] for r in rows]
    if spec.dtype == tf.string:
      inputs[name] = tf.constant(values)
    elif spec.dtype.is_floating:
      inputs[name] = tf.constant([float(v) if v else float('nan') for v in values], spec.dtype)
    else:
      inputs[name] = tf.constant([int(float(v)) if v else -1 for v in values], spec.dtype)
  from_tensors = by_tensors(**inputs)
  p1 = from_examples[signatures.PROBABILITY_KEY].numpy()
  p2 = from_tensors[signatures.PROBABILITY_KEY].numpy()
  assert p1.shape == (5,) and ((p1 >= 0) & (p1 <= 1)).all()
  np.testing.assert_allclose(p1, p2, rtol=1e-5)
  np.testing.assert_array_equal(from_examples[CONTRACT.label].numpy(), (p1 > 0.5))


def test_broken_span_stops_the_run_before_transform(env):
  header, rows = read_span(3)
  payment = header.index('payment_type')
  broken = [list(r) for r in rows[:300]]
  for row in broken[:50]:
    row[payment] = 'Bitcoin'  # not in the curated domain
  write_span(env['data'], 3, header, broken)
  reader = metadata.MetadataReader.open_sqlite(env['home'].metadata_path, SETTINGS.pipeline_name)
  before = reader.max_execution_id()
  cmd = [sys.executable, '-m', 'ctpipe.cli', 'run', '--home', env['home'].root,
         '--data-root', env['data'], '--window', '2', '--epochs', '2', '--min-auc', '0.8']
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 3, proc.stdout + proc.stderr
  assert "feature 'payment_type'" in proc.stdout and 'span 3' in proc.stdout
  report = [line for line in proc.stdout.splitlines() if line.startswith('Report: ')]
  assert report, proc.stdout  # the stopped run has its report too, anomalies included
  with open(report[0][len('Report: '):].strip(), encoding='utf-8') as f:
    assert 'Bitcoin' in f.read()
  executions = reader.executions_after(before)
  by_node = metadata.executions_by_node(executions)
  assert by_node[definition.DATA_GATE].state == 'FAILED'
  assert definition.TRANSFORM not in by_node and definition.PUSHER not in by_node
  anomalies = reader.execution_outputs(by_node[definition.EXAMPLE_VALIDATOR].id)['anomalies']
  found = anomalies_lib.read_anomalies(anomalies[0].uri, ['train', 'eval'], span=3)
  assert {a.feature for a in found} == {'payment_type'}  # recorded in MLMD, readable later
  assert publishing.versions(_model_base(env)) == [1]


def test_a_rerun_is_not_compared_with_a_window_that_holds_its_own_span(env, tmp_path):
  """Re-running the newest span (in a copy of the home): its window's statistics hold the
  span itself, so there is no drift to measure and none in the recorded reason."""
  import shutil  # pylint: disable=g-import-not-at-top
  from ctpipe.home import Home  # pylint: disable=g-import-not-at-top
  from pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from tests.conftest import CURATED_SCHEMA  # pylint: disable=g-import-not-at-top
  copy = Home(str(tmp_path / 'home'))
  shutil.copytree(env['home'].root, copy.root)
  data = str(tmp_path / 'data')  # the first run's spans (a later test adds a broken one)
  shutil.copytree(env['data'], data, ignore=lambda folder, names: [
      n for n in names if n.startswith('span-') and int(n[5:]) > env['first'].plan.newest])
  again = local_runner.LocalRun(copy, data, CURATED_SCHEMA, SETTINGS).run()
  assert again.status == 'completed' and again.plan.newest == env['first'].plan.newest
  assert again.drift == [] and again.reason == 'manual', (again.reason, again.drift)
  reader = metadata.MetadataReader.open_sqlite(copy.metadata_path, SETTINGS.pipeline_name)
  reports = reader.node_outputs(definition.DRIFT_CHECK)
  assert reports[-1].custom_properties['summary'].startswith('no earlier training window')
