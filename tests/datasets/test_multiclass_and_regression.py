"""A multiclass and a regression data set nobody here wrote, declared by `ctpipe init`, through
the whole loop with no code: the Palmer penguins' raw data (three species; text, dates and
'NA' cells) and scikit-learn's diabetes data (disease progression, a number).

Each: init → run (blessed, pushed, TFLite parity) → REST and gRPC (the official client:
Classify with the class names, or Regress) → `predict` on rows without the label → a
drifted span caught by `watch` (penguins) or live RMSE from labels by `feedback` (diabetes).
"""
import csv
import glob
import json
import os
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc, regression_pb2

from ctpipe import config
from ctpipe.model_server.local import LocalServer
from tests.conftest import REPO, without_auto_tuning

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`


def _cli(*args, timeout=900):
  return subprocess.run([sys.executable, '-m', 'ctpipe.cli', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout)


def _init_and_run(root, csv_path, label, name):
  out = root / 'project'
  init = _cli('init', '--data', str(csv_path), '--label', label, '--dir', str(out),
              '--name', name, timeout=300)
  assert init.returncode == 0, init.stdout + init.stderr
  without_auto_tuning(out / 'ctpipe.yaml')
  run = _cli('run', '--config', str(out / 'ctpipe.yaml'))
  assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
  home = out / f'.ctpipe-{name}'
  return {'out': out, 'config': str(out / 'ctpipe.yaml'), 'init': init.stdout,
          'run': run.stdout, 'home': home, 'base': str(home / 'serving' / name),
          'record': json.loads((home / 'last_run.json').read_text())}


@pytest.fixture(scope='module')
def penguins(tmp_path_factory):
  import palmerpenguins  # pylint: disable=g-import-not-at-top
  raw = os.path.join(os.path.dirname(palmerpenguins.__file__), 'data', 'penguins-raw.csv')
  return _init_and_run(tmp_path_factory.mktemp('penguins'), raw, 'Species', 'penguins')


@pytest.fixture(scope='module')
def diabetes(tmp_path_factory):
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('diabetes')
  frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
  frame.to_csv(root / 'diabetes.csv', index=False)
  found = _init_and_run(root, root / 'diabetes.csv', 'target', 'diabetes')
  found['frame'] = frame
  return found


def _span_rows(project_dir, span):
  with open(project_dir / 'data' / f'span-{span}' / 'data.csv', newline='') as f:
    reader = csv.reader(f)
    header = next(reader)
    return header, list(reader)


def _predict_csv(found, rows_header, rows, tmp_path):
  os.makedirs(tmp_path / 'in')
  with open(tmp_path / 'in' / 'rows.csv', 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(rows_header)
    writer.writerows(rows)
  proc = _cli('predict', '--config', found['config'], '--input', str(tmp_path / 'in'),
              '--output', str(tmp_path / 'out'), timeout=600)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  out = []
  for name in sorted(glob.glob(str(tmp_path / 'out' / 'predictions*.csv'))):
    with open(name, newline='') as f:
      reader = csv.reader(f)
      header = next(reader)
      out += list(reader)
  return header, out


def _typed(text, dtype):
  """A CSV cell as JSON gives it for a raw feature of `dtype`."""
  if dtype.name == 'string':
    return text
  return float(text) if dtype.is_floating else int(float(text))


# --- multiclass: the penguins ------------------------------------------------------------

def test_penguins_are_declared_multiclass_then_blessed_and_pushed(penguins):
  assert 'multiclass' in penguins['init']
  record = penguins['record']
  assert record['blessed'] is True and int(record['pushed_version']) == 1, record
  # Three species that measurements tell apart: far above the majority class's share.
  assert record['candidate']['accuracy'] > 0.9, record['candidate']
  assert record['candidate']['accuracy_lift'] > 0.4, record['candidate']
  assert 'max |Δ| score' in record['edge_export'], record['edge_export']  # TFLite agrees
  assert 'accuracy_lift' in penguins['run'] and 'Verdict: BLESSED' in penguins['run']
  report = open(record['report'], encoding='utf-8').read()
  assert 'Confusion matrix' in report and 'actual Gentoo penguin (Pygoscelis papua)' in report
  assert '<title>ROC</title>' not in report  # a binary chart has no meaning here


def test_penguins_classify_returns_the_species_names_over_rest_and_grpc(penguins):
  import base64  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models import raw_examples  # pylint: disable=g-import-not-at-top
  project = config.load(penguins['config'])
  classes = list(project.dataset.classes)
  header, rows = _span_rows(penguins['out'], 2)
  specs = tf.saved_model.load(os.path.join(penguins['base'], '1')).signatures[
      'serving_raw'].structured_input_signature[1]
  serialized = [raw_examples.to_tf_example(dict(zip(header, row)), specs) for row in rows[:12]]
  request = classification_pb2.ClassificationRequest()
  request.model_spec.name = 'penguins'
  request.model_spec.signature_name = 'classify'
  for example in serialized:
    request.input.example_list.examples.add().ParseFromString(example)
  with LocalServer(project.dataset.name, penguins['base']) as server:
    with grpc.insecure_channel(server.grpc_target) as channel:
      answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Classify(
          request, timeout=60)
    rest = requests.post(f'{server.rest_url}/v1/models/penguins:predict', timeout=60,
                         data=json.dumps({'instances': [
                             {'b64': base64.b64encode(e).decode()} for e in serialized]}))
    rest_classify = requests.post(
        f'{server.rest_url}/v1/models/penguins:classify', timeout=60,
        data=json.dumps({'signature_name': 'classify', 'examples': [
            {name: _typed(value, specs[name].dtype) for name, value in zip(header, row)
             if name in specs and value != ''} for row in rows[:12]]}))
  assert rest.status_code == 200 and rest_classify.status_code == 200, (
      rest.text + rest_classify.text)
  by_rest_classify = [max(result, key=lambda pair: pair[1])[0]
                      for result in rest_classify.json()['results']]
  by_grpc = []
  for result in answer.result.classifications:
    scores = {c.label: c.score for c in result.classes}
    assert list(scores) == classes  # every class, by name, in the definition's order
    assert abs(sum(scores.values()) - 1.0) < 1e-5
    by_grpc.append(max(scores, key=scores.get))
  predictions = rest.json()['predictions']
  by_rest = [p['Species'] for p in predictions]
  truth = [row[header.index('Species')] for row in rows[:12]]
  assert by_grpc == by_rest == by_rest_classify
  assert sum(a == b for a, b in zip(by_rest, truth)) >= 10, (by_rest, truth)
  assert all(len(p['probabilities']) == 3 for p in predictions)


def test_penguins_batch_prediction_has_a_class_and_a_probability_per_class(penguins, tmp_path):
  project = config.load(penguins['config'])
  header, rows = _span_rows(penguins['out'], 3)
  keep = [i for i, name in enumerate(header) if name != 'Species']
  out_header, out = _predict_csv(penguins, [header[i] for i in keep],
                                 [[row[i] for i in keep] for row in rows[:40]], tmp_path)
  classes = list(project.dataset.classes)
  assert out_header[-4:] == ['prediction'] + [f'probability_{c}' for c in classes]
  assert len(out) == 40
  for row in out:
    probabilities = [float(v) for v in row[-3:]]
    assert abs(sum(probabilities) - 1.0) < 1e-4
    assert row[-4] == classes[int(np.argmax(probabilities))]


def test_watch_catches_a_drifted_span_of_the_penguins(penguins):
  header, rows = _span_rows(penguins['out'], 4)
  column = header.index('Culmen_Length_mm')
  for row in rows:
    if row[column]:
      row[column] = f'{float(row[column]) * 2.5:.1f}'
  span = penguins['out'] / 'data' / 'span-5'
  span.mkdir()
  with open(span / 'data.csv', 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  (span / '_SUCCESS').write_text('')
  proc = _cli('watch', '--config', penguins['config'], '--once', '--retrain', 'on-trigger')
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
  runs = _cli('inspect', '--config', penguins['config'], 'runs', '--json')
  assert runs.returncode == 0, runs.stderr
  newest = json.loads(runs.stdout)[0]
  assert 'drift' in newest['trigger'] and 'Culmen_Length_mm' in newest['trigger'], newest
  # The run's report draws the drifted feature in the span beside the training window.
  [report] = [line.split('report: ', 1)[1].strip() for line in proc.stdout.splitlines()
              if 'report: ' in line][-1:]
  html = open(report, encoding='utf-8').read()
  assert '<title>span 5: distribution of Culmen_Length_mm</title>' in html
  assert '<title>window: distribution of Culmen_Length_mm</title>' in html


def test_a_span_with_a_species_the_model_does_not_know_stops_at_the_data_gate(penguins):
  header, rows = _span_rows(penguins['out'], 4)
  label = header.index('Species')
  for row in rows[::2]:
    row[label] = 'Emperor penguin (Aptenodytes forsteri)'
  span = penguins['out'] / 'data' / 'span-9'
  span.mkdir()
  with open(span / 'data.csv', 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  (span / '_SUCCESS').write_text('')
  try:
    run = _cli('run', '--config', penguins['config'])
    assert run.returncode == 3, run.stdout[-3000:]  # the data gate: nothing trained
    assert 'Species' in run.stdout and 'Emperor' in run.stdout, run.stdout[-3000:]
  finally:
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(span)  # later tests serve and train on the good spans


# --- regression: diabetes ------------------------------------------------------------------

def test_diabetes_is_declared_regression_then_blessed_and_pushed(diabetes):
  assert 'regression' in diabetes['init']
  record = diabetes['record']
  assert record['blessed'] is True and int(record['pushed_version']) == 1, record
  candidate = record['candidate']
  # Better than answering the mean: RMSE well below the label's spread (~77).
  assert candidate['rmse_lift'] > 0.1 and candidate['rmse'] < 70, candidate
  assert 'max |Δ| score' in record['edge_export'], record['edge_export']
  assert 'rmse' in diabetes['run']
  report = open(record['report'], encoding='utf-8').read()
  assert '<title>Predicted against actual</title>' in report and '<title>Residuals</title>' in report


def _diabetes_instances(frame, rows):
  return [{k: float(v) for k, v in frame.drop(columns=['target']).iloc[i].items()} for i in rows]


def test_diabetes_regress_and_predict_agree_over_rest_and_grpc(diabetes):
  project = config.load(diabetes['config'])
  frame = diabetes['frame']
  request = regression_pb2.RegressionRequest()
  request.model_spec.name = 'diabetes'
  request.model_spec.signature_name = 'regress'
  instances = _diabetes_instances(frame, range(10))
  for instance in instances:
    example = request.input.example_list.examples.add()
    for name, value in instance.items():
      example.features.feature[name].float_list.value.append(value)
  with LocalServer(project.dataset.name, diabetes['base']) as server:
    with grpc.insecure_channel(server.grpc_target) as channel:
      regressed = prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(
          request, timeout=60)
    rest = requests.post(f'{server.rest_url}/v1/models/diabetes:predict', timeout=60,
                         data=json.dumps({'signature_name': 'serving_raw',
                                          'instances': instances}))
    rest_regress = requests.post(
        f'{server.rest_url}/v1/models/diabetes:regress', timeout=60,
        data=json.dumps({'signature_name': 'regress', 'examples': instances}))
  assert rest.status_code == 200 and rest_regress.status_code == 200, rest.text + rest_regress.text
  by_grpc = [r.value for r in regressed.result.regressions]
  by_rest = rest.json()['predictions']  # the one output: bare values, as TF Serving answers
  np.testing.assert_allclose(by_grpc, by_rest, rtol=1e-5)
  np.testing.assert_allclose(rest_regress.json()['results'], by_rest, rtol=1e-5)
  assert all(20 < value < 360 for value in by_rest)  # on the label's own scale


def test_diabetes_batch_prediction_appends_the_value(diabetes, tmp_path):
  frame = diabetes['frame'].drop(columns=['target']).head(30)
  header, out = _predict_csv(diabetes, list(frame.columns),
                             frame.astype(str).values.tolist(), tmp_path)
  assert header[-1] == 'prediction' and 'probability' not in header and len(out) == 30
  assert all(20 < float(row[-1]) < 360 for row in out)


def test_feedback_measures_live_rmse_from_labels_that_arrive_later(diabetes, tmp_path):
  project = config.load(diabetes['config'])
  frame = diabetes['frame']
  requests_dir = diabetes['home'] / 'requests'
  with LocalServer(project.dataset.name, diabetes['base'],
                   request_log_dir=str(requests_dir)) as server:
    for start in range(0, 240, 40):
      answer = requests.post(
          f'{server.rest_url}/v1/models/diabetes:predict', timeout=60,
          headers={'X-Request-Id': f'batch-{start}'},
          data=json.dumps({'signature_name': 'serving_raw',
                           'instances': _diabetes_instances(frame, range(start, start + 40))}))
      assert answer.status_code == 200, answer.text
  labels = tmp_path / 'labels.csv'
  with open(labels, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['request_id', 'row', 'label'])
    for i in range(240):
      writer.writerow([f'batch-{i - i % 40}', i % 40, frame['target'].iloc[i]])
  proc = _cli('feedback', '--config', diabetes['config'], '--labels', str(labels), '--json',
              timeout=300)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  report = json.loads(proc.stdout)
  assert report['labelled_rows'] == 240, report
  # Mostly training rows: a live RMSE of the model's own order, and no degradation.
  assert 20 < report['live']['rmse'] < 80 and report['evaluation']['rmse'] > 0, report
  assert not report['degraded'], report


def test_watch_catches_a_drifted_span_of_the_diabetes_data(diabetes):
  header, rows = _span_rows(diabetes['out'], 4)
  column = header.index('bmi')
  for row in rows:
    row[column] = f'{float(row[column]) * 2.5:.1f}'
  span = diabetes['out'] / 'data' / 'span-5'
  span.mkdir()
  with open(span / 'data.csv', 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  (span / '_SUCCESS').write_text('')
  proc = _cli('watch', '--config', diabetes['config'], '--once', '--retrain', 'on-trigger')
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
  runs = _cli('inspect', '--config', diabetes['config'], 'runs', '--json')
  newest = json.loads(runs.stdout)[0]
  assert 'drift' in newest['trigger'] and 'bmi' in newest['trigger'], newest


# --- several data sets in one home ----------------------------------------------------------

def test_one_home_holds_two_data_sets_and_serve_answers_for_both(penguins, tmp_path):
  """Diabetes trained into the penguins' home: two pipelines in one store, two models under
  one serving base, one `ctpipe serve` answering both by name, each run named by its data set."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
  frame.to_csv(tmp_path / 'diabetes.csv', index=False)
  out = tmp_path / 'diabetes'
  init = _cli('init', '--data', str(tmp_path / 'diabetes.csv'), '--label', 'target',
              '--dir', str(out), '--name', 'diabetes', timeout=300)
  assert init.returncode == 0, init.stdout + init.stderr
  without_auto_tuning(out / 'ctpipe.yaml')
  home = str(penguins['home'])
  run = _cli('run', '--config', str(out / 'ctpipe.yaml'), '--home', home)
  assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
  assert json.loads((penguins['home'] / 'last_run.json').read_text())['dataset'] == 'diabetes'
  # TF Serving's model config lists both models (production serves them as this server does).
  models_config = (penguins['home'] / 'serving' / 'models.config').read_text()
  assert 'name: "penguins"' in models_config and 'name: "diabetes"' in models_config
  runs = _cli('inspect', 'runs', '--db', os.path.join(home, 'metadata.db'), '--json')
  assert runs.returncode == 0, runs.stderr
  assert {r['pipeline'] for r in json.loads(runs.stdout)} >= {'ctpipe-penguins',
                                                                'ctpipe-diabetes'}
  server = subprocess.Popen(
      [sys.executable, '-m', 'ctpipe.cli', 'serve', '--config', penguins['config'],
       '--rest-port', '0', '--grpc-port', '0', '--poll-seconds', '0.5'],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    announced = []
    while len([line for line in announced if '/v1/models/' in line]) < 2:
      line = server.stdout.readline()
      assert line, server.stderr.read()
      announced.append(line)
    urls = {line.rsplit('/', 1)[1].strip(): line.split('REST ', 1)[1].strip()
            for line in announced if '/v1/models/' in line}
    assert set(urls) == {'penguins', 'diabetes'}, announced
    for name, url in urls.items():
      deadline = time.time() + 60
      while True:
        status = requests.get(url, timeout=10)
        if status.status_code == 200 and status.json()['model_version_status'][0][
            'state'] == 'AVAILABLE':
          break
        assert time.time() < deadline, status.text
        time.sleep(0.5)
    value = requests.post(urls['diabetes'] + ':predict', timeout=30, data=json.dumps(
        {'signature_name': 'serving_raw', 'instances': _diabetes_instances(frame, range(3))}))
    assert value.status_code == 200 and len(value.json()['predictions']) == 3, value.text
    metadata = requests.get(urls['penguins'] + '/metadata', timeout=30)
    assert 'probabilities' in json.dumps(metadata.json()), metadata.text
    unknown = requests.post(urls['penguins'].replace('penguins', 'wine') + ':predict',
                            timeout=30, data='{"instances": []}')
    assert unknown.status_code == 404
  finally:
    server.terminate()
    server.wait(timeout=30)
