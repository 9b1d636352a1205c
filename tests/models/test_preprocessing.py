"""preprocessing_fn on a few rows through tft_beam, against hand-computed outputs."""
import math
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

import functools

from models import features, preprocessing, taxi
from pipeline.components.schema_review import proposals as schema_review
from tests.conftest import CONTRACT

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`


def _row(**overrides):
  row = {
      'fare': [10.0], 'tips': [0.0], 'trip_miles': [2.0], 'trip_seconds': [600],
      'pickup_latitude': [41.9], 'pickup_longitude': [-87.6],
      'dropoff_latitude': [41.8], 'dropoff_longitude': [-87.7],
      'trip_start_hour': [10], 'trip_start_day': [3], 'trip_start_month': [6],
      'trip_start_timestamp': [1400000000],
      'pickup_community_area': [8], 'dropoff_community_area': [32],
      'dropoff_census_tract': [17031081500], 'pickup_census_tract': [],
      'payment_type': [b'Cash'], 'company': [b'Flash Cab'],
  }
  row.update(overrides)
  return row


@pytest.fixture(scope='module')
def transformed(curated_schema_path):
  with open(curated_schema_path) as f:
    schema = schema_review.read_schema_text(f.read())
  raw_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
  rows = (
      [_row(fare=[10.0], tips=[3.0], payment_type=[b'Credit Card'])]   # 30% tip: big
      # Exactly 20%: not big (in float32, 0.36 > 0.2 * 1.8 holds).
      + [_row(fare=[1.8], tips=[0.36], payment_type=[b'Credit Card'])]
      + [_row(fare=[20.0], tips=[0.0], dropoff_latitude=[41.8 + 0.01 * i]) for i in range(4)]
      + [_row(pickup_latitude=[], company=[], trip_start_hour=[30], dropoff_census_tract=[])])
  # 'Cash' appears 5 times: exactly the vocabulary's frequency threshold.
  assert CONTRACT.treatments.vocabulary_min_frequency == 5
  rows = [dict(r, **{k: np.array(v) for k, v in r.items()}) for r in rows]
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
  with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(
      temp_dir=tmp, force_tf_compat_v1=preprocessing.FORCE_TF_COMPAT_V1):
    (outputs, _), _ = ((rows, metadata)
                       | tft_beam.AnalyzeAndTransformDataset(functools.partial(
                           preprocessing.preprocessing_fn,
                           custom_config={features.CONFIG_KEY: CONTRACT.to_config()})))
  return outputs


def test_label_is_tips_over_a_fifth_of_fare(transformed):
  assert [int(r[CONTRACT.label]) for r in transformed] == [1, 0, 0, 0, 0, 0, 0]


def test_label_compares_exact_cents():
  fare = tf.constant([1.8, 1.8, 7.35, 7.35], tf.float32)
  tips = tf.constant([0.36, 0.37, 1.47, 1.48], tf.float32)
  label = taxi.big_tipper_label({'fare': tf.reshape(fare, [-1, 1]),
                                 'tips': tf.reshape(tips, [-1, 1])})
  assert label.numpy().tolist() == [0, 1, 0, 1]


def test_numeric_z_score_and_missing_indicator(transformed):
  fares = np.array([r[features.scaled('fare')] for r in transformed])
  assert abs(fares.mean()) < 1e-5
  assert fares[0] < 0 < fares[2]  # log1p(10) below the mean, log1p(20) above
  missing = [float(r[features.missing('pickup_latitude')]) for r in transformed]
  assert missing == [0, 0, 0, 0, 0, 0, 1]
  # A missing value is filled with the mean of the present ones: z-score 0.
  assert math.isclose(float(transformed[-1][features.scaled('pickup_latitude')]), 0.0,
                      abs_tol=1e-5)


def test_z_scores_of_coordinates_are_unit_scale(transformed):
  # Coordinates have a large mean and a tiny spread: a float32 variance cancels to ~0.
  lat = np.array([r[features.scaled('dropoff_latitude')] for r in transformed])
  assert np.abs(lat).max() < 10


def test_buckets_are_within_range(transformed):
  for r in transformed:
    for name in CONTRACT.numeric_features:
      assert 0 <= int(r[features.bucketized(name)]) < CONTRACT.treatments.quantile_buckets


def test_ranged_hashed_and_vocabulary_indices(transformed):
  hour = [int(r[features.indexed('trip_start_hour')]) for r in transformed]
  assert hour[:6] == [11] * 6  # hour 10 with range (0, 23): index 10 - 0 + 1
  assert hour[6] == 0  # out of range
  tract = [int(r[features.indexed('dropoff_census_tract')]) for r in transformed]
  assert tract[6] == 0 and 1 <= tract[0] <= CONTRACT.hashed_features['dropoff_census_tract']
  payment = [int(r[features.indexed('payment_type')]) for r in transformed]
  # 'Cash' (5 rows) is in the vocabulary (index 0); 'Credit Card' (2 rows) is below the
  # frequency threshold and lands in the out-of-vocabulary bucket.
  assert payment[2] == 0 and payment[0] == payment[1] != 0
