"""How much accuracy this data allows: the issue's gradient-boosting reference on our split.

Reads the train and eval splits of the window a `ctpipe run` trained on (its
MergeWindow output in `--home`), fits scikit-learn's gradient boosting on train
and scores eval, next to two floors: "never a big tipper" and "big tipper if and
only if paid by credit card". Then the same reference on random one-third splits
of all rows, to show how far the split alone moves accuracy.

    .venv/bin/python bench/accuracy_ceiling.py [--home .ctpipe] [--seeds 10]
"""
import argparse
import glob
import os

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_records(directory: str) -> list:
  """The serialized tf.Examples of one split folder (gzipped TFRecord shards)."""
  return [r.numpy() for r in tf.data.TFRecordDataset(
      sorted(glob.glob(os.path.join(directory, '*'))), compression_type='GZIP')]


def to_frame(records) -> pd.DataFrame:
  """One row per example, one column per feature (its first value, or None)."""
  rows = []
  for record in records:
    example = tf.train.Example.FromString(record)
    row = {}
    for name, feature in example.features.feature.items():
      kind = feature.WhichOneof('kind')
      values = list(getattr(feature, kind).value) if kind else []
      value = values[0] if values else None
      row[name] = value.decode() if isinstance(value, bytes) else value
    rows.append(row)
  return pd.DataFrame(rows)


def read_split(directory: str) -> pd.DataFrame:
  return to_frame(read_records(directory))


def label(frame: pd.DataFrame) -> np.ndarray:
  return ((frame['tips'] * 100).round() * 5 > (frame['fare'] * 100).round()).to_numpy()


def features(frame: pd.DataFrame, categories) -> pd.DataFrame:
  x = frame.drop(columns=['tips']).copy()
  for name in ('payment_type', 'company'):
    x[name] = pd.Categorical(x[name], categories=categories[name]).codes
  return x.astype(float)


def reference(train: pd.DataFrame, test: pd.DataFrame):
  categories = {n: sorted(set(train[n].dropna()) | set(test[n].dropna()))
                for n in ('payment_type', 'company')}
  model = HistGradientBoostingClassifier(random_state=0)
  model.fit(features(train, categories), label(train))
  x_test = features(test, categories)
  y_test = label(test)
  accuracy = float((model.predict(x_test) == y_test).mean())
  auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
  return accuracy, auc


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--home', default=os.path.join(REPO, '.ctpipe'))
  parser.add_argument('--seeds', type=int, default=10)
  args = parser.parse_args()
  merged = sorted(glob.glob(os.path.join(args.home, 'pipeline', 'MergeWindow', 'merged_examples',
                                         '*')), key=lambda p: int(os.path.basename(p)))
  if not merged:
    raise SystemExit(f'no MergeWindow output under {args.home}: run `ctpipe run` first')
  train = read_split(os.path.join(merged[-1], 'Split-train'))
  test = read_split(os.path.join(merged[-1], 'Split-eval'))
  y = label(test)
  print(f'our split: {len(train)} train rows, {len(test)} eval rows')
  print(f'  never a big tipper:            accuracy {1 - y.mean():.4f}')
  card = (test['payment_type'] == 'Credit Card').to_numpy()
  print(f'  big tipper iff credit card:    accuracy {(card == y).mean():.4f}')
  accuracy, auc = reference(train, test)
  print(f'  gradient boosting (reference): accuracy {accuracy:.4f}, AUC {auc:.4f}')
  everything = pd.concat([train, test], ignore_index=True)
  scores = []
  for seed in range(args.seeds):
    a, b = train_test_split(everything, test_size=1 / 3, random_state=seed)
    scores.append(reference(a, b))
  accuracies = np.array([s[0] for s in scores])
  print(f'random one-third splits ({args.seeds} seeds), gradient boosting: accuracy '
        f'{accuracies.min():.4f}..{accuracies.max():.4f} (mean {accuracies.mean():.4f}), '
        f'AUC mean {np.mean([s[1] for s in scores]):.4f}')


if __name__ == '__main__':
  main()
