"""`ctpipe inspect` on our own store and on a store written by TFX's own taxi example."""
import pytest
import json
import os
import shutil
import sqlite3

from click.testing import CliRunner

from ctpipe.cli import main
from tests.conftest import TFX_EXAMPLE_STORE

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`



def _inspect(*args, expect_exit=0):
  result = CliRunner().invoke(main, ['inspect', *args])
  assert result.exit_code == expect_exit, result.output + repr(result.exception)
  return result


def _json(*args):
  return json.loads(_inspect(*args, '--json').output)


def test_runs_of_our_store_say_what_ran_why_and_what_was_pushed(pushed_home):
  home = pushed_home[0].root
  runs = _json('runs', '--home', home, '--limit', '100')
  pushing = [r for r in runs if r['pushed_version'] == 1]
  assert len(pushing) == 1
  run = pushing[0]
  assert run['status'] == 'complete' and run['blessed'] is True
  assert run['trigger'] == 'manual'
  assert {'Transform', 'Trainer', 'Evaluator', 'ServingCheck', 'Pusher'} <= set(run['executed'])
  backfill = [r for r in runs if r['trigger'] == 'backfill for manual']
  assert backfill and set(backfill[-1]['executed']) >= {'CsvExampleGen', 'DataGate'}
  assert runs == sorted(runs, key=lambda r: r['start'], reverse=True)  # newest first
  table = _inspect('runs', '--home', home).output
  assert run['run'] in table and 'manual' in table
  assert isinstance(run['pushed_version'], int) and run['pipeline'] == 'ctpipe-taxi'
  executions = _json('executions', '--home', home, '--run', run['run'])
  trainer = [e for e in executions if e['node'] == 'Trainer'][0]
  assert trainer['state'] == 'COMPLETE' and 'model' in trainer['outputs']


def test_runs_fit_one_line_each_at_160_columns_and_name_components_only_when_wide(pushed_home):
  from rich.console import Console  # pylint: disable=g-import-not-at-top
  from ctpipe.mlmd_inspect import render, runs as runs_lib, store  # pylint: disable=g-import-not-at-top
  rows = runs_lib.list_runs(store.open_records(home=pushed_home[0].root), limit=100)
  screen = Console(width=160, record=True, color_system=None)
  screen.print(render.runs_table(rows))
  lines = screen.export_text().splitlines()
  body = [line for line in lines if any(r.run in line for r in rows)]
  assert len(body) == len(rows), lines  # every run on one line, its id whole
  assert all(len(line) <= 160 for line in lines)
  assert 'Transform' not in '\n'.join(lines)  # counts, not names
  wide = Console(width=400, record=True, color_system=None)
  wide.print(render.runs_table(rows, wide=True))
  assert 'Transform' in wide.export_text()


def test_lineage_of_a_pushed_version_reaches_the_data(pushed_home):
  home = pushed_home[0].root
  found = _json('lineage', '--home', home, 'v1')
  assert found['target']['type'] == 'PushedModel'
  # What made the version, not later runs that found the same artifacts in their cache.
  assert {e['state'] for e in found['executions']} == {'COMPLETE'}, found['executions']
  assert 'fields {' not in _inspect('lineage', '--home', home, 'v1').output  # no raw protobuf
  nodes = [e['node'] for e in found['executions']]
  for node in ('CsvExampleGen', 'StatisticsGen', 'DataGate', 'MergeWindow', 'Transform',
               'Trainer', 'Evaluator', 'ServingCheck', 'Pusher'):
    assert node in nodes, node
  spans = {a['properties'].get('span') for a in found['artifacts'].values()
           if a['type'] == 'Examples'}
  assert {1, 2} <= spans  # the two sample spans of the window
  trainer = [e for e in found['executions'] if e['node'] == 'Trainer'][0]
  assert 'hidden_units' in str(trainer['properties']['custom_config'])  # hyperparameters
  types = {a['type'] for a in found['artifacts'].values()}
  assert {'ExampleStatistics', 'ExampleAnomalies', 'Schema', 'TransformGraph', 'Model',
          'ModelEvaluation', 'ModelBlessing', 'InfraBlessing'} <= types
  model_id = [i for e in found['executions'] if e['node'] == 'Trainer'
              for i in e['outputs']['model']][0]
  by_model = _json('lineage', '--home', home, str(model_id))
  assert 'Pusher' in [e['node'] for e in by_model['executions']]  # what happened to it
  tree = _inspect('lineage', '--home', home, 'v1', '--metrics').output
  assert 'Trainer' in tree and 'span=1' in tree
  assert 'candidate: auc 0.' in tree  # the evaluation's metrics, read from its artifact


def test_lineage_of_a_span_lists_the_models_trained_on_it(pushed_home):
  home = pushed_home[0].root
  uses = _json('lineage', '--home', home, '--span', '1')
  assert uses and uses[0]['model']['type'] == 'Model'
  pushed = [p['properties']['pushed_version'] for u in uses for p in u['pushed']]
  assert '1' in pushed
  assert _inspect('lineage', '--home', home, '--span', '99', expect_exit=1).output.startswith(
      'error: no Examples of span 99')


def test_reads_the_store_of_tfx_own_taxi_example():
  runs = _json('runs', '--db', TFX_EXAMPLE_STORE)
  assert len(runs) == 1 and runs[0]['status'] == 'complete' and runs[0]['blessed'] is True
  assert runs[0]['pipeline'] == 'peer_taxi'
  assert {'CsvExampleGen', 'Transform', 'Trainer', 'Evaluator', 'Pusher'} <= set(
      runs[0]['executed'])
  version = runs[0]['pushed_version']
  lineage = _json('lineage', '--db', TFX_EXAMPLE_STORE, f'v{version}')
  assert [e['node'] for e in lineage['executions']][:1] == ['CsvExampleGen']
  assert 'Trainer' in [e['node'] for e in lineage['executions']]
  models = _json('artifacts', '--db', TFX_EXAMPLE_STORE, '--type', 'Model')
  assert len(models) == 1
  uses = _json('lineage', '--db', TFX_EXAMPLE_STORE, '--span', '0')
  assert [u['model']['id'] for u in uses] == [models[0]['id']]


def test_errors_are_one_line(tmp_path):
  def error_of(*args):
    output = _inspect(*args, expect_exit=1).output
    assert output.startswith('error: ') and output.count('\n') == 1, output
    return output

  assert 'no metadata store' in error_of('runs', '--db', str(tmp_path / 'missing.db'))
  foreign = tmp_path / 'foreign.db'
  connection = sqlite3.connect(foreign)
  connection.execute('CREATE TABLE notes (text TEXT)')
  connection.commit()
  connection.close()
  assert 'not an ML Metadata store' in error_of('runs', '--db', str(foreign))
  garbage = tmp_path / 'garbage.db'
  garbage.write_bytes(b'this is not a database' * 100)
  assert 'not a SQLite database' in error_of('runs', '--db', str(garbage))
  newer = tmp_path / 'newer.db'
  shutil.copyfile(TFX_EXAMPLE_STORE, newer)
  connection = sqlite3.connect(newer)
  connection.execute('UPDATE MLMDEnv SET schema_version = 99')
  connection.commit()
  connection.close()
  assert 'schema version 99 is newer' in error_of('runs', '--db', str(newer))
  assert 'no artifact with id 9999' in error_of('lineage', '--db', TFX_EXAMPLE_STORE, '9999')
  assert 'no pushed version 7' in error_of('lineage', '--db', TFX_EXAMPLE_STORE, 'v7')
  assert 'no run' in error_of('executions', '--db', TFX_EXAMPLE_STORE, '--run', 'nope')
  assert 'no artifact type' in error_of('artifacts', '--db', TFX_EXAMPLE_STORE, '--type', 'Nope')
  assert 'give a model or version' in error_of('lineage', '--db', TFX_EXAMPLE_STORE)


def test_inspect_never_writes(tmp_path):
  store = tmp_path / 'store.db'
  shutil.copyfile(TFX_EXAMPLE_STORE, store)
  before = store.read_bytes()
  _inspect('runs', '--db', str(store))
  _inspect('lineage', '--db', str(store), '--span', '0')
  assert store.read_bytes() == before
  assert sorted(os.listdir(tmp_path)) == ['store.db']  # no journal or lock left behind


def test_diff_of_the_backfill_and_the_training_run(pushed_home):
  home = pushed_home[0].root
  runs = _json('runs', '--home', home, '--limit', '100')
  backfill = [r for r in runs if r['trigger'] == 'backfill for manual'][-1]['run']
  training = [r for r in runs if r['pushed_version'] == 1][0]['run']
  found = _json('diff', '--home', home, backfill, training)
  assert found['a'] == backfill and found['b'] == training
  assert found['metrics'] == []  # the backfill run evaluated nothing
  assert found['drift_between'] == [1, 2]  # the data each side ingested: span 1, span 2
  assert {d['feature'] for d in found['drift']} >= {'fare', 'payment_type', 'company'}
  assert any(line.startswith('span: 1 -> 2') for line in
             found['changed_parameters'].get('CsvExampleGen', [])), found['changed_parameters']
  assert 'Trainer' in found['only_in_b'] and found['only_in_a'] == []
  same = _json('diff', '--home', home, 'v1', training)  # a version resolves to its run
  assert same['changed_inputs'] == {} and same['changed_parameters'] == {}
  assert all(m['a'] == m['b'] for m in same['metrics']) and same['metrics']
  text = _inspect('diff', '--home', home, backfill, training).output
  assert 'Data drift, span 1 → span 2' in text


def test_diff_on_tfx_own_example_store():
  [run] = _json('runs', '--db', TFX_EXAMPLE_STORE)
  found = _json('diff', '--db', TFX_EXAMPLE_STORE, run['run'], f"v{run['pushed_version']}")
  assert found['a'] == found['b'] == run['run'] and found['schema_diff'] == []
  assert found['changed_inputs'] == {} and found['only_in_a'] == found['only_in_b'] == []


def test_diff_ranks_only_slices_large_enough_and_shows_undefined_auc_as_na():
  from rich.console import Console  # pylint: disable=g-import-not-at-top
  from ctpipe.mlmd_inspect import diff as diff_lib, render  # pylint: disable=g-import-not-at-top
  changes = [diff_lib.MetricChange('all data', 'auc', 0.95, 0.96, 5000, 5000),
             diff_lib.MetricChange('payment_type=Unknown', 'auc', 0.6667, float('nan'), 3, 1),
             diff_lib.MetricChange('payment_type=Dispute', 'binary_accuracy', 1.0, 0.0, 1, 1),
             diff_lib.MetricChange('payment_type=Cash', 'binary_accuracy', 0.99, 0.97, 3300,
                                   3310)]
  difference = diff_lib.Difference('A', 'B', changes, [], [], (None, None), {}, {}, [], [])
  screen = Console(width=200, record=True, color_system=None)
  screen.print(render.diff_view(difference))
  text = screen.export_text()
  moved = text.split('Slices that moved', 1)[1].split('Schema', 1)[0]
  assert 'payment_type=Cash' in moved
  assert 'Dispute' not in moved and 'Unknown' not in moved  # 1 and 3 examples: not moves
  assert changes[1].delta is None  # undefined on one side: no difference to rank
