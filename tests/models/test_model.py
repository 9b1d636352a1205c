"""The Keras model builder on constant tensors: shapes, dtypes, a finite loss."""
import math

import numpy as np
import pytest

from models import autograph, features, model as model_lib
from tests.conftest import CONTRACT


@pytest.fixture(scope='module')
def layout():
  sizes = {features.bucketized(n): CONTRACT.treatments.quantile_buckets
           for n in CONTRACT.numeric_features}
  sizes.update({features.indexed(n): 9 for n in CONTRACT.categorical_features})
  return model_lib.default_layout(CONTRACT, sizes)


def _batch(layout, n=16):
  rng = np.random.default_rng(0)
  x = {name: rng.normal(size=(n, 1)).astype('float32') for name in layout.dense}
  x.update({name: rng.integers(0, size, size=(n, 1)) for name, size in layout.categorical})
  return x, rng.integers(0, 2, size=(n, 1)).astype('float32')


def test_output_is_a_probability_per_example(layout):
  autograph.skip_tf_keras()
  model = model_lib.build_model(layout, model_lib.HParams(hidden_units=(8,)))
  x, _ = _batch(layout)
  out = model.predict(x, verbose=0)
  assert out.shape == (16, 1) and out.dtype == np.float32
  assert ((out >= 0) & (out <= 1)).all()


def test_one_training_step_gives_a_finite_loss(layout):
  model = model_lib.build_model(layout, model_lib.HParams(hidden_units=(8,)))
  x, y = _batch(layout)
  history = model.fit(x, y, epochs=1, verbose=0)
  assert np.isfinite(history.history['loss'][0])


def test_layout_covers_every_transformed_input(layout):
  names = set(layout.dense) | {name for name, _ in layout.categorical}
  assert {features.indexed(n) for n in CONTRACT.categorical_features} <= names
  assert {features.scaled(n) for n in CONTRACT.numeric_features} <= names


def test_hparams_reject_unknown_names():
  with pytest.raises(ValueError, match='unknown hyperparameters'):
    model_lib.HParams.from_dict({'epoch': 3})
  assert model_lib.HParams.from_dict({'hidden_units': [4, 2]}).hidden_units == (4, 2)


def test_zero_cardinality_is_rejected():
  bad = model_lib.FeatureLayout(dense=('a',), categorical=(('b', 0),))
  with pytest.raises(ValueError, match="'b' has cardinality 0"):
    model_lib.build_model(bad, model_lib.HParams())


def test_warm_start_copies_matching_weights_and_keeps_fresh_ones_where_shapes_changed(
    layout, tmp_path):
  from models import training  # pylint: disable=g-import-not-at-top
  hparams = model_lib.HParams(hidden_units=(8,))
  trained = model_lib.build_model(layout, hparams)
  x, y = _batch(layout)
  trained.fit(x, y, epochs=2, verbose=0)
  trained.save(str(tmp_path / 'base'), save_format='tf', save_traces=False)

  # Same layout: every weight comes over; the fresh model then predicts like the trained one.
  fresh = model_lib.build_model(layout, model_lib.HParams(hidden_units=(8,), seed=7))
  copied = training.warm_start(fresh, str(tmp_path / 'base'))
  assert len(copied) == len(fresh.weights)
  np.testing.assert_allclose(fresh.predict(x, verbose=0), trained.predict(x, verbose=0),
                             rtol=1e-6)

  # One vocabulary grew: its embedding starts fresh, everything else is copied.
  grown_name = features.indexed(CONTRACT.vocabulary_features[0])
  grown = model_lib.FeatureLayout(layout.dense, tuple(
      (name, size + 5 if name == grown_name else size) for name, size in layout.categorical))
  other = model_lib.build_model(grown, hparams)
  copied = training.warm_start(other, str(tmp_path / 'base'))
  assert 0 < len(copied) < len(other.weights)
  assert len(other.weights) - len(copied) in (1, 2)  # the grown embedding (and the first kernel)


def test_batch_grows_with_the_data_only_past_the_step_budget():
  hparams = model_lib.HParams()
  assert hparams.for_rows(10_000) == hparams  # the embedded window: as configured
  assert hparams.for_rows(128_000) == hparams  # exactly 1,000 steps
  scaled = hparams.for_rows(1_000_000)
  assert scaled.batch_size == 1024 and math.ceil(1_000_000 / scaled.batch_size) <= 1000
  assert scaled.learning_rate == pytest.approx(hparams.learning_rate * math.sqrt(8))
  assert scaled.epochs == hparams.epochs and scaled.hidden_units == hparams.hidden_units


def test_every_training_epoch_is_one_whole_pass_over_the_rows(tmp_path):
  """fit runs ceil(rows / batch) steps an epoch on the repeated dataset: that count must be
  exactly one pass, each row once, so that epochs neither drop rows nor spill over."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models import training  # pylint: disable=g-import-not-at-top
  rows, batch = 9_001, 128
  path = str(tmp_path / 'rows.gz')
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(rows):
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          'id': tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))})).SerializeToString())

  @tf.function
  def parse(records):
    ids = tf.io.parse_example(records, {'id': tf.io.FixedLenFeature([], tf.int64)})['id']
    return {'id': ids}, ids

  assert training.count_records([path]) == rows
  steps = math.ceil(rows / batch)
  dataset = training.make_dataset([path], parse, batch, shuffle=True)
  # No autotuner: deleting an iterator whose autotuner runs stalls for seconds (TF 2.16).
  assert dataset.options().autotune.enabled is False
  dataset = dataset.repeat()
  labels = [label.numpy() for _, label in dataset.take(2 * steps)]
  assert [len(b) for b in labels[:steps - 1]] == [batch] * (steps - 1)
  for epoch in (labels[:steps], labels[steps:]):
    assert sorted(np.concatenate(epoch).tolist()) == list(range(rows))
  assert not np.array_equal(np.concatenate(labels[:steps]), np.concatenate(labels[steps:]))
