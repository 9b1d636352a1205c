"""Batch prediction on Beam with a pushed model: every row scored, rows kept as they were."""
import csv
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from ctpipe.model_server import batch_predict
from models import outputs, raw_examples
from tests.conftest import PROJECT, read_span, write_span

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

OUTPUTS = outputs.batch_columns(PROJECT.dataset.task, PROJECT.dataset.label,
                                PROJECT.dataset.classes)


def test_scores_every_row_like_the_serving_signature(pushed_home, tmp_path):
  _, base, _, _ = pushed_home
  header, rows = read_span(4)
  keep = [i for i, name in enumerate(header) if name != 'tips']  # unlabelled input
  unlabelled_header = [header[i] for i in keep]
  sample = [[row[i] for i in keep] for row in rows[:300]]
  write_span(str(tmp_path / 'in'), 1, unlabelled_header, sample)
  pattern = batch_predict.run(str(tmp_path / 'in'), str(tmp_path / 'out'),
                              os.path.join(base, '1'), OUTPUTS)
  out_rows = []
  for name in sorted(glob.glob(pattern)):
    with open(name, newline='') as f:
      reader = csv.reader(f)
      assert next(reader) == unlabelled_header + ['prediction', 'probability']
      out_rows.extend(reader)
  assert len(out_rows) == len(sample)
  by_input = {tuple(r[:-2]): (float(r[-1]), int(r[-2])) for r in out_rows}
  model = tf.saved_model.load(os.path.join(base, '1'))
  serve = model.signatures['serving_default']
  specs = model.signatures['serving_raw'].structured_input_signature[1]
  check = sample[:20]
  examples = [raw_examples.to_tf_example(dict(zip(unlabelled_header, r)), specs) for r in check]
  expected = serve(examples=tf.constant(examples))['probability'].numpy()
  got = np.array([by_input[tuple(r)][0] for r in check])
  np.testing.assert_allclose(got, expected, atol=1e-5)
  assert all(by_input[tuple(r)][1] == int(p > 0.5) for r, p in zip(check, got))


def test_missing_model_inputs_are_named(pushed_home, tmp_path):
  _, base, _, _ = pushed_home
  write_span(str(tmp_path / 'in'), 1, ['fare', 'tips'], [['1.0', '0.0']])
  with pytest.raises(ValueError, match='payment_type'):
    batch_predict.run(str(tmp_path / 'in'), str(tmp_path / 'out'), os.path.join(base, '1'),
                      OUTPUTS)
