"""Quality on the future: train through 2015 (spans 1-3), score every 2016 trip (span 4).

Runs `ctpipe run` on a copy of spans 1-3 in a scratch home, loads the pushed model and
scores span 4's raw rows through its `serving_default` signature, then prints AUC and
accuracy (scikit-learn). The issue's bar: AUC >= 0.91 (gradient boosting: 0.915).

    .venv/bin/python bench/temporal_holdout.py [--work DIR]
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, 'data', 'taxi')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--work', default=None)
  args = parser.parse_args()
  work = args.work or tempfile.mkdtemp(prefix='ctpipe-holdout-')
  data = os.path.join(work, 'data')
  shutil.rmtree(work, ignore_errors=True)
  for span in (1, 2, 3):
    shutil.copytree(os.path.join(DATA, f'span-{span}'), os.path.join(data, f'span-{span}'))
  home = os.path.join(work, 'home')
  proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ctpipe'), 'run',
                         '--data-root', data, '--home', home, '--window', '3'],
                        capture_output=True, text=True)
  print(proc.stdout[-1500:])
  if proc.returncode != 0:
    sys.exit(f'ctpipe run failed with exit code {proc.returncode}')

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  from models import raw_examples, signatures  # pylint: disable=g-import-not-at-top
  base = os.path.join(home, 'serving', 'taxi')
  version = max(int(v) for v in os.listdir(base) if v.isdigit())
  loaded = tf.saved_model.load(os.path.join(base, str(version)))
  spec = loaded.signatures[signatures.RAW_SIGNATURE].structured_input_signature[1]
  serve = loaded.signatures[signatures.DEFAULT_SIGNATURE]
  with open(os.path.join(DATA, 'span-4', 'data.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  labels = np.array([float(r['tips'] or 0) > 0.2 * float(r['fare'] or 0)
                     and r['tips'] != '' and r['fare'] != '' for r in rows])
  probability = serve(examples=tf.constant([raw_examples.to_tf_example(r, spec) for r in rows]))[
      signatures.PROBABILITY_KEY].numpy()
  auc = roc_auc_score(labels, probability)
  accuracy = float(((probability > 0.5) == labels).mean())
  majority = max(labels.mean(), 1 - labels.mean())
  print(f'HOLDOUT trained on 2013-2015 (version {version}), scored {len(rows)} trips of 2016: '
        f'AUC {auc:.4f}, accuracy {accuracy:.4f} (majority rate {majority:.4f})')


if __name__ == '__main__':
  main()
