"""A table nobody here wrote, declared by `ctpipe init`, through the whole loop with no code:
scikit-learn's breast-cancer data (binary, its label a string) from `init` to a served model,
REST and batch predictions."""
import csv
import glob
import json
import os
import subprocess
import sys

import pytest
import requests

from ctpipe import config
from ctpipe.model_server.local import LocalServer
from tests.conftest import REPO, without_auto_tuning

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`


def _cli(*args, timeout=900):
  return subprocess.run([sys.executable, '-m', 'ctpipe.cli', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def breast_cancer(tmp_path_factory):
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('breast_cancer')
  frame = datasets.load_breast_cancer(as_frame=True).frame
  frame['target'] = frame['target'].map({0: 'malignant', 1: 'benign'})
  csv_path = str(root / 'breast_cancer.csv')
  frame.to_csv(csv_path, index=False)
  out = root / 'project'
  init = _cli('init', '--data', csv_path, '--label', 'target', '--positive-class', 'malignant',
              '--dir', str(out), '--name', 'breast-cancer', timeout=300)
  assert init.returncode == 0, init.stdout + init.stderr
  assert 'binary' in init.stdout and "'mean radius' → 'mean_radius'" in init.stdout
  # The data set has no tuned hyperparameters yet and init wrote tuning.auto: true, so the
  # first run searches (a small budget here), filed under an experiment.
  run = _cli('run', '--config', str(out / 'ctpipe.yaml'), *SMALL_SEARCH, '--experiment', 'first')
  assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
  home = out / '.ctpipe-breast-cancer'
  first_record = json.loads((home / 'last_run.json').read_text())
  # A second run, on the two newest spans only: it reuses the tuned hyperparameters.
  again = _cli('run', '--config', str(out / 'ctpipe.yaml'), '--experiment', 'first',
               '--set', 'pipeline.window_spans=2', '--set', 'pipeline.edge_export=false')
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
  return {'root': root, 'out': out, 'config': str(out / 'ctpipe.yaml'), 'run': run.stdout,
          'frame': frame, 'home': home, 'first_record': first_record, 'again': again.stdout}


# min_gain 0: the best trial is taken however small its gain (tests/tuning/test_search.py
# covers the rule that keeps the configured hyperparameters).
SMALL_SEARCH = ('--set', 'tuning.max_trials=3', '--set', 'tuning.max_epochs=8',
                '--set', 'tuning.max_minutes=4', '--set', 'tuning.min_gain=0')


def test_init_then_run_blesses_and_pushes_a_model_of_the_data_set(breast_cancer):
  out = breast_cancer['out']
  record = breast_cancer['first_record']
  assert record['blessed'] is True and int(record['pushed_version']) == 1, record
  assert record['candidate']['auc'] > 0.95, record['candidate']
  assert os.path.isdir(out / '.ctpipe-breast-cancer' / 'serving' / 'breast-cancer' / '1')
  assert 'Verdict: BLESSED' in breast_cancer['run']


def test_the_served_model_answers_raw_rows_over_rest(breast_cancer):
  project = config.load(breast_cancer['config'])
  base = str(breast_cancer['out'] / '.ctpipe-breast-cancer' / 'serving' / 'breast-cancer')
  frame = breast_cancer['frame']
  rows = frame.drop(columns=['target']).head(8)
  rows.columns = [c.replace(' ', '_') for c in rows.columns]
  with LocalServer(project.dataset.name, base) as server:
    answer = requests.post(
        f'{server.rest_url}/v1/models/breast-cancer/versions/1:predict', timeout=60,
        data=json.dumps({'signature_name': 'serving_raw',
                         'instances': rows.to_dict(orient='records')}))
  assert answer.status_code == 200, answer.text
  predictions = answer.json()['predictions']
  assert len(predictions) == 8
  # Malignant is the positive class: the probabilities follow the true labels.
  truth = (frame['target'].head(8) == 'malignant').tolist()
  assert [p['target'] == 1 for p in predictions] == truth
  assert all(0.0 <= p['probability'] <= 1.0 for p in predictions)


def test_batch_prediction_appends_the_data_sets_outputs(breast_cancer, tmp_path):
  frame = breast_cancer['frame'].drop(columns=['target']).head(50)
  frame.columns = [c.replace(' ', '_') for c in frame.columns]
  os.makedirs(tmp_path / 'in')
  frame.to_csv(tmp_path / 'in' / 'rows.csv', index=False)
  proc = _cli('predict', '--config', breast_cancer['config'], '--input', str(tmp_path / 'in'),
              '--output', str(tmp_path / 'out'), timeout=600)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  rows = []
  for name in sorted(glob.glob(str(tmp_path / 'out' / 'predictions*.csv'))):
    with open(name, newline='') as f:
      reader = csv.reader(f)
      header = next(reader)
      rows += list(reader)
  assert header[-2:] == ['prediction', 'probability'] and len(rows) == 50
  assert 'Scored 50 rows with version 1' in proc.stdout, proc.stdout
  missing = _cli('predict', '--config', breast_cancer['config'], '--input', str(tmp_path / 'in'),
                 '--output', str(tmp_path / 'out2'), '--version', '9', timeout=600)
  assert missing.returncode == 1 and 'no version 9' in missing.stderr, missing.stderr
  assert 'it has versions [1' in missing.stderr and not missing.stdout.strip()
  assert {row[-2] for row in rows} <= {'0', '1'}  # the class: 1 is the positive class


def test_watch_catches_a_drifted_span_of_the_data_set(breast_cancer):
  out = breast_cancer['out']
  data = out / 'data'
  with open(data / 'span-4' / 'data.csv', newline='') as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = list(reader)
  # The same rows, every size measure two and a half times larger.
  scaled = [i for i, name in enumerate(header) if 'radius' in name or 'area' in name]
  for row in rows:
    for i in scaled:
      row[i] = f'{float(row[i]) * 2.5:.4f}'
  (data / 'span-5').mkdir()
  with open(data / 'span-5' / 'data.csv', 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  (data / 'span-5' / '_SUCCESS').write_text('')
  proc = _cli('watch', '--config', breast_cancer['config'], '--once', '--retrain', 'on-trigger')
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
  runs = _cli('inspect', '--config', breast_cancer['config'], 'runs', '--json')
  assert runs.returncode == 0, runs.stderr
  newest = json.loads(runs.stdout)[0]
  assert 'drift' in newest['trigger'] and 'radius' in newest['trigger'], newest
  assert newest['pipeline'] == 'ctpipe-breast-cancer', newest


def test_a_date_column_becomes_calendar_parts_the_model_learns_from(tmp_path):
  """Weekend or not, from a timestamp alone: only the day of week can tell."""
  import datetime  # pylint: disable=g-import-not-at-top
  import random  # pylint: disable=g-import-not-at-top
  rng = random.Random(3)
  path = tmp_path / 'weekend.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['when', 'noise', 'label'])
    for _ in range(1200):
      moment = datetime.datetime(2024, 1, 1) + datetime.timedelta(hours=rng.randint(0, 24 * 360))
      writer.writerow([moment.strftime('%Y-%m-%d %H:%M:%S'), f'{rng.gauss(0, 1):.3f}',
                       int(moment.weekday() >= 5)])
  out = tmp_path / 'weekend'
  init = _cli('init', '--data', str(path), '--label', 'label', '--dir', str(out), timeout=300)
  assert init.returncode == 0 and 'dates' in init.stdout, init.stdout + init.stderr
  without_auto_tuning(out / 'ctpipe.yaml')
  run = _cli('run', '--config', str(out / 'ctpipe.yaml'))
  assert run.returncode == 0, run.stdout[-3000:]
  record = json.loads((out / '.ctpipe-weekend' / 'last_run.json').read_text())
  assert record['blessed'] is True and record['candidate']['binary_accuracy'] > 0.9, record
  assert 'max |Δ| score' in record['edge_export'], record['edge_export']  # TFLite agrees too
  project = config.load(str(out / 'ctpipe.yaml'))
  with LocalServer(project.dataset.name, str(out / '.ctpipe-weekend' / 'serving' / 'weekend')
                   ) as server:
    answer = requests.post(
        f'{server.rest_url}/v1/models/weekend:predict', timeout=60,
        data=json.dumps({'signature_name': 'serving_raw', 'instances': [
            {'when': '2024-06-08 10:00:00', 'noise': 0.0},     # a Saturday
            {'when': '2024-06-12 10:00:00', 'noise': 0.0}]}))  # a Wednesday
  assert answer.status_code == 200, answer.text
  saturday, wednesday = answer.json()['predictions']
  assert saturday['label'] == 1 and wednesday['label'] == 0


# --- tuning and experiments, on the same home: its first run searched, its second reused ---

def _reader(breast_cancer):
  from ctpipe.home import Home  # pylint: disable=g-import-not-at-top
  return Home(str(breast_cancer['home'])).reader('ctpipe-breast-cancer')


def _trainers(reader):
  return [e for e in reader.executions_after(0) if e.node_id == 'Trainer']


def _training_summary(reader, trainer) -> dict:
  [model] = reader.execution_outputs(trainer.id)['model']
  path = os.path.join(model.uri, 'Format-Serving', 'assets.extra', 'training_summary.json')
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def test_the_first_run_searched_and_the_trainer_used_exactly_the_best_hyperparameters(
    breast_cancer):
  from ctpipe import tuning_results  # pylint: disable=g-import-not-at-top
  reader = _reader(breast_cancer)
  [best] = reader.node_outputs('Tuner', 'HyperParameters')  # one search: the first run's
  [results] = reader.node_outputs('Tuner', 'TunerResults')
  values = tuning_results.read_best(best.uri)
  summary = tuning_results.read_summary(results.uri)
  assert set(values) == {'width', 'depth', 'learning_rate', 'batch_size', 'dropout', 'epochs'}
  assert len(summary['trials']) == 3 and summary['stopped_by'].startswith('the trial budget')
  winner = max(summary['trials'], key=lambda t: t['value'])  # val_auc: larger is better
  assert summary['best_value'] == winner['value']
  assert values == dict(winner['hyperparameters'], epochs=winner['epochs'])
  assert 1 <= values['epochs'] <= 8  # the best epoch count early stopping found
  first = _trainers(reader)[0]
  assert [a.id for a in reader.execution_inputs(first.id)['hyperparameters']] == [best.id]
  configured = config.load(breast_cancer['config']).pipeline.hparams
  assert _training_summary(reader, first)['hparams'] == configured.tuned(values).to_dict()
  # The terminal showed each trial as it finished, and what the Trainer trained with.
  assert 'trial 1/3' in breast_cancer['run'] and 'trial 3/3' in breast_cancer['run']
  assert 's left of the budget' in breast_cancer['run']
  assert 'hyperparameters: tuned by this run (3 trials, best val_auc' in breast_cancer['run']


def test_the_tuner_never_read_the_evaluation_split(breast_cancer):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from ctpipe import tuning_results  # pylint: disable=g-import-not-at-top
  reader = _reader(breast_cancer)
  [tuner] = [e for e in reader.executions_after(0) if e.node_id == 'Tuner']
  [examples] = reader.execution_inputs(tuner.id)['examples']
  [results] = reader.execution_outputs(tuner.id)['tuner_results']
  summary = tuning_results.read_summary(results.uri)
  train_files = sorted(tf.io.gfile.glob(os.path.join(examples.uri, 'Split-train', '*')))
  assert summary['files_read'] == train_files and train_files
  assert not any('Split-eval' in path for path in summary['files_read'])
  rows = sum(1 for _ in tf.data.TFRecordDataset(train_files, compression_type='GZIP'))
  # Every training row went to exactly one side: the trials' training or their validation.
  assert summary['trial_train_rows'] + summary['trial_validation_rows'] == rows
  assert 0.1 < summary['trial_validation_rows'] / rows < 0.3  # validation_share 0.2


def test_a_later_run_reuses_the_tuned_hyperparameters_from_ml_metadata(breast_cancer):
  reader = _reader(breast_cancer)
  [best] = reader.node_outputs('Tuner', 'HyperParameters')
  first, second = _trainers(reader)[:2]
  assert [a.id for a in reader.execution_inputs(second.id)['hyperparameters']] == [best.id]
  assert _training_summary(reader, second)['hparams'] == _training_summary(reader, first)['hparams']
  assert [e.node_id for e in reader.executions_after(first.id)].count('Tuner') == 0
  assert 'hyperparameters: reused from run' in breast_cancer['again']
  assert f'artifact {best.id})' in breast_cancer['again']


def _experiments(*args):
  proc = _cli('experiments', *args, timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  return proc


def test_experiments_lists_the_runs_with_their_parameters_and_metrics(breast_cancer):
  from ctpipe import tuning_results  # pylint: disable=g-import-not-at-top
  home = str(breast_cancer['home'])
  found = json.loads(_experiments('first', '--home', home, '--json').stdout)
  assert len(found['runs']) == 2 and found['experiments'] == ['first']
  first, second = found['runs']
  reader = _reader(breast_cancer)
  [best] = reader.node_outputs('Tuner', 'HyperParameters')
  values = tuning_results.read_best(best.uri)
  for run in (first, second):
    assert run['experiments'] == ['first']
    assert run['parameters']['hyperparameters'] == f'tuned (HyperParameters #{best.id})'
    for name, value in values.items():
      assert run['parameters'][f'hp.{name}'] == value, name
    assert run['parameters']['code_version']
  assert first['parameters']['window'] == '1,2,3,4' and second['parameters']['window'] == '3,4'
  assert first['parameters']['data_fingerprint'] != second['parameters']['data_fingerprint']
  # The metrics are the runs' own evaluations: the first as its run reported it.
  for name, value in breast_cancer['first_record']['candidate'].items():
    assert first['metrics'][name] == pytest.approx(value, nan_ok=True), name
  # Each run's record in ML Metadata holds the same parameters and metrics, for any client.
  [kind] = [t for t in reader.store.get_execution_types() if t.name == 'ctpipe.ExperimentRun']
  snapshots = {e.properties['run'].string_value: e for e in reader.store.get_executions_by_type(
      kind.name)}
  for run in (first, second):
    snapshot = snapshots[run['run']].properties
    assert json.loads(snapshot['parameters'].string_value) == run['parameters']
    assert json.loads(snapshot['metrics'].string_value) == pytest.approx(run['metrics'],
                                                                         nan_ok=True)
  table = _experiments('first', '--home', home, '--sort', 'auc').stdout
  assert 'window' in table and 'report --compare' in table  # the parameter that differs
  ranked = json.loads(_experiments('first', '--home', home, '--sort', 'auc', '--json').stdout)
  aucs = [r['metrics']['auc'] for r in ranked['runs']]
  assert aucs == sorted(aucs, reverse=True)
  missing = _cli('experiments', 'nope', '--home', home, timeout=300)
  assert missing.returncode == 1 and "no experiment 'nope'" in missing.stderr


def test_the_compare_page_opens_in_a_headless_browser_and_shows_every_run(breast_cancer,
                                                                           tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  home = str(breast_cancer['home'])
  runs = [r['run'] for r in json.loads(_experiments('first', '--home', home, '--json').stdout)
          ['runs']]
  path = str(tmp_path / 'compare.html')
  made = _cli('report', '--compare', *runs, '--home', home, '--output', path, timeout=300)
  assert made.returncode == 0, made.stdout + made.stderr
  browser = shutil.which('chromium') or shutil.which('chromium-browser')
  assert browser, 'Debian chromium is needed (make test installs it)'
  dom = subprocess.run([browser, '--headless', '--no-sandbox', '--disable-gpu', '--dump-dom',
                        f'file://{path}'], capture_output=True, text=True, timeout=120)
  assert dom.returncode == 0, dom.stderr[-2000:]
  page = dom.stdout
  for run in runs:
    assert page.count(run) >= 3, run  # title, the runs table, every table's column
  for section in ('Parameters that differ', 'Metrics (candidate, overall)', 'Metrics per slice',
                  'Curves'):
    assert section in page, section
  assert '<th>window</th>' in page and '<title>ROC</title>' in page
  assert page.count('class="series"') >= 4  # both runs' ROC and calibration lines
  assert '<script' not in page
  one = _cli('report', '--compare', runs[0], '--home', home, timeout=300)
  assert one.returncode == 1 and 'two or more runs' in one.stderr
