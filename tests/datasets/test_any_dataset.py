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
from tests.conftest import REPO

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
  run = _cli('run', '--config', str(out / 'ctpipe.yaml'))
  assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
  return {'root': root, 'out': out, 'config': str(out / 'ctpipe.yaml'), 'run': run.stdout,
          'frame': frame}


def test_init_then_run_blesses_and_pushes_a_model_of_the_data_set(breast_cancer):
  out = breast_cancer['out']
  record = json.loads((out / '.ctpipe-breast-cancer' / 'last_run.json').read_text())
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
