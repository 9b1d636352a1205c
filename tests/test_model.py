"""The Keras model builder on constant tensors: shapes, dtypes, a finite loss."""
import numpy as np
import pytest

from models import autograph, features, model as model_lib


@pytest.fixture(scope='module')
def layout():
  sizes = {features.bucketized(n): features.NUM_QUANTILE_BUCKETS for n in features.NUMERIC_FEATURES}
  sizes.update({features.indexed(n): 9 for n in features.CATEGORICAL_FEATURES})
  return model_lib.default_layout(sizes)


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
  assert {features.indexed(n) for n in features.CATEGORICAL_FEATURES} <= names
  assert {features.scaled(n) for n in features.NUMERIC_FEATURES} <= names


def test_hparams_reject_unknown_names():
  with pytest.raises(ValueError, match='unknown hyperparameters'):
    model_lib.HParams.from_dict({'epoch': 3})
  assert model_lib.HParams.from_dict({'hidden_units': [4, 2]}).hidden_units == (4, 2)


def test_zero_cardinality_is_rejected():
  bad = model_lib.FeatureLayout(dense=('a',), categorical=(('b', 0),))
  with pytest.raises(ValueError, match="'b' has cardinality 0"):
    model_lib.build_model(bad, model_lib.HParams())
