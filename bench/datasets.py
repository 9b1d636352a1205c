"""Benchmark: ctpipe's default run on several data sets against scikit-learn's gradient
boosting on the same split, in one session: taxi and breast cancer (binary), the Palmer
penguins and wine (multiclass), diabetes (regression).

For each data set: `ctpipe init` (taxi: its committed definition), `ctpipe run` in a
fresh home, then scikit-learn's HistGradientBoosting fitted on exactly the train split
ctpipe trained on and scored on its eval split (read from the run's MergeWindow output;
the labels from the pushed model's own label signature, so both judge the same labels).
Prints each data set's metrics side by side (binary: AUC and accuracy; multiclass:
accuracy; regression: RMSE), the difference (the goal: within 0.02, or RMSE within 10 %),
ctpipe's pipeline seconds and the run's peak memory (largest child RSS). No per-data-set
code, no tuning beyond what `init` writes.

    .venv/bin/python bench/datasets.py [--work DIR] [--only taxi,breast-cancer,penguins]
"""
import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _breast_cancer(root: str) -> str:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  frame = datasets.load_breast_cancer(as_frame=True).frame
  frame['target'] = frame['target'].map({0: 'malignant', 1: 'benign'})
  path = os.path.join(root, 'breast_cancer.csv')
  frame.to_csv(path, index=False)
  return path


def _penguins(root: str) -> str:
  del root
  import palmerpenguins  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(palmerpenguins.__file__), 'data', 'penguins-raw.csv')


def _sklearn_frame(loader, file_name: str, **kwargs):
  def make(root: str) -> str:
    path = os.path.join(root, file_name)
    loader(as_frame=True, **kwargs).frame.to_csv(path, index=False)
    return path
  return make


def _wine(root: str) -> str:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  return _sklearn_frame(datasets.load_wine, 'wine.csv')(root)


def _diabetes(root: str) -> str:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  return _sklearn_frame(datasets.load_diabetes, 'diabetes.csv', scaled=False)(root)


# name -> (how to make the CSV, label, init options); taxi uses config/ctpipe.yaml.
DATASETS = {
    'breast-cancer': (_breast_cancer, 'target', ['--positive-class', 'malignant']),
    'penguins': (_penguins, 'Species', []),
    'wine': (_wine, 'target', ['--task', 'multiclass']),
    'diabetes': (_diabetes, 'target', []),
}


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'ctpipe.cli', *args], cwd=REPO,
                        capture_output=True, text=True)


def _read_split(directory: str):
  """The split as a frame, and its serialized examples (for the label signature)."""
  import accuracy_ceiling  # pylint: disable=g-import-not-at-top  (bench/, beside this script)
  records = accuracy_ceiling.read_records(directory)
  return accuracy_ceiling.to_frame(records), records


def _labels(model_dir: str, records) -> np.ndarray:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models import signatures  # pylint: disable=g-import-not-at-top
  fn = tf.saved_model.load(model_dir).signatures[signatures.LABEL_SIGNATURE]
  out = fn(examples=tf.constant(records))
  return np.asarray(next(iter(out.values()))).reshape(-1)


def reference(home: str, project) -> dict:
  """HistGradientBoosting on the run's own train split, scored on its eval split."""
  from sklearn import ensemble, metrics  # pylint: disable=g-import-not-at-top
  merged = sorted(glob.glob(os.path.join(home, 'pipeline', 'MergeWindow', 'merged_examples', '*')),
                  key=lambda p: int(os.path.basename(p)))[-1]
  model_dir = sorted(glob.glob(os.path.join(home, 'serving', project.dataset.name, '*')),
                     key=lambda p: int(os.path.basename(p)))[-1]
  train, train_records = _read_split(os.path.join(merged, 'Split-train'))
  test, test_records = _read_split(os.path.join(merged, 'Split-eval'))
  y_train, y_test = _labels(model_dir, train_records), _labels(model_dir, test_records)
  treatments = project.dataset.features
  inputs = [n for n in treatments.model_inputs if n not in treatments.dates]
  strings = list(treatments.vocabulary)

  def x(frame):
    out = frame.reindex(columns=inputs).copy()
    for name in strings:
      categories = sorted(set(train[name].dropna()) | set(test[name].dropna()))
      out[name] = pd.Categorical(out[name], categories=categories).codes
    for name in treatments.dates:  # the calendar parts ctpipe's model sees
      when = pd.to_datetime(frame[name], errors='coerce')
      out[f'{name}_month'], out[f'{name}_weekday'] = when.dt.month, when.dt.weekday
      out[f'{name}_hour'] = when.dt.hour
    return out.astype(float)
  rows = (len(train), len(test))
  if project.dataset.task == 'regression':
    model = ensemble.HistGradientBoostingRegressor(random_state=0).fit(x(train), y_train)
    predicted = model.predict(x(test))
    return {'rmse': float(np.sqrt(np.mean((predicted - y_test) ** 2))), 'rows': rows}
  model = ensemble.HistGradientBoostingClassifier(random_state=0).fit(x(train), y_train)
  out = {'accuracy': float((model.predict(x(test)) == y_test).mean()), 'rows': rows}
  if project.dataset.task == 'binary':
    out['auc'] = float(metrics.roc_auc_score(y_test, model.predict_proba(x(test))[:, 1]))
  return out


def comparison(task: str, ours: dict, ref: dict) -> str:
  """The task's metrics side by side, and ours minus the reference's (RMSE: as a ratio)."""
  if task == 'regression':
    return (f'ours RMSE {ours["rmse"]:.3f} | HistGradientBoosting RMSE {ref["rmse"]:.3f} | '
            f'ratio {ours["rmse"] / ref["rmse"]:.3f}')
  accuracy = ours['binary_accuracy'] if task == 'binary' else ours['accuracy']
  auc = f'AUC {ours["auc"]:.4f} ' if task == 'binary' else ''
  text = f'ours {auc}accuracy {accuracy:.4f} | HistGradientBoosting accuracy {ref["accuracy"]:.4f}'
  if task == 'binary':
    text += f' AUC {ref["auc"]:.4f} | Δ AUC {ours["auc"] - ref["auc"]:+.4f}'
  return text + f' | Δ accuracy {accuracy - ref["accuracy"]:+.4f}'


def bench_one(name: str, work: str) -> dict:
  from ctpipe import config  # pylint: disable=g-import-not-at-top
  if name == 'taxi':
    config_path = os.path.join(REPO, 'config', 'ctpipe.yaml')
    home = os.path.join(work, 'taxi-home')
    args = ['run', '--config', config_path, '--home', home]
  else:
    make, label, options = DATASETS[name]
    out = os.path.join(work, name)
    init = _cli('init', '--data', make(work), '--label', label, '--name', name, '--dir', out,
                *options)
    if init.returncode != 0:
      raise RuntimeError(f'init {name} failed:\n{init.stdout}{init.stderr}')
    config_path = os.path.join(out, 'ctpipe.yaml')
    home = os.path.join(out, f'.ctpipe-{name}')
    args = ['run', '--config', config_path]
  start = time.time()
  run = _cli(*args)
  wall = time.time() - start
  if run.returncode != 0:
    raise RuntimeError(f'run {name} failed:\n{run.stdout[-3000:]}')
  with open(os.path.join(home, 'last_run.json')) as f:
    record = json.load(f)
  project = config.load(config_path)
  ref = reference(home, project)
  return {'name': name, 'task': project.dataset.task, 'ours': record['candidate'],
          'reference': ref,
          'seconds': record['pipeline_seconds'], 'wall': wall, 'blessed': record['blessed'],
          'peak_rss_gib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2 ** 20}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--work', default=None, help='Keep the runs here (default: a temp dir).')
  parser.add_argument('--only', default='', help='Comma-separated data set names.')
  args = parser.parse_args()
  names = [n for n in ['taxi', *DATASETS] if not args.only or n in args.only.split(',')]
  work = args.work or tempfile.mkdtemp(prefix='ctpipe-datasets-')
  os.makedirs(work, exist_ok=True)
  try:
    for name in names:
      r = bench_one(name, work)
      ref = r['reference']
      print(f'{name} ({r["task"]}): {comparison(r["task"], r["ours"], ref)} | '
            f'blessed {r["blessed"]} | pipeline {r["seconds"]:.1f} s | peak RSS so far '
            f'{r["peak_rss_gib"]:.2f} GiB | {ref["rows"][0]} train / {ref["rows"][1]} eval rows',
            flush=True)
  finally:
    if args.work is None:
      shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
  main()
