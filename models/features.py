"""The taxi model's feature contract: raw columns, how each is treated, and the label.

Everything that names a column lives here so that preprocessing, the model, the
serving signatures and the evaluation config agree by construction.
"""
from typing import Tuple

# Label: a "big tipper" tips more than 20% of the fare. Derived from raw `tips`,
# which is therefore never a model input and never needed at serving time.
LABEL_KEY = 'big_tipper'
LABEL_SOURCE_KEYS: Tuple[str, ...] = ('tips',)
BIG_TIP_FRACTION = 0.2

# Skewed positive amounts: log1p, then z-score and quantile buckets.
AMOUNT_FEATURES: Tuple[str, ...] = ('fare', 'trip_miles', 'trip_seconds')
# Coordinates: z-score and quantile buckets, plus a missing-value indicator.
GEO_FEATURES: Tuple[str, ...] = (
    'pickup_latitude', 'pickup_longitude', 'dropoff_latitude', 'dropoff_longitude')
# Integer-coded categories and strings: both go through a vocabulary.
CATEGORICAL_INT_FEATURES: Tuple[str, ...] = (
    'trip_start_hour', 'trip_start_day', 'trip_start_month',
    'pickup_community_area', 'dropoff_community_area', 'dropoff_census_tract')
CATEGORICAL_STRING_FEATURES: Tuple[str, ...] = ('payment_type', 'company')

NUMERIC_FEATURES: Tuple[str, ...] = AMOUNT_FEATURES + GEO_FEATURES
CATEGORICAL_FEATURES: Tuple[str, ...] = CATEGORICAL_INT_FEATURES + CATEGORICAL_STRING_FEATURES
MODEL_INPUT_FEATURES: Tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

# Columns kept in the data and schema but not used by the model: the timestamp
# defines spans; pickup_census_tract is empty in the whole embedded data set.
UNUSED_COLUMNS: Tuple[str, ...] = ('trip_start_timestamp', 'pickup_census_tract')

# Slices the Evaluator reports and guards (see pipeline/evaluation.py).
SLICE_FEATURES: Tuple[str, ...] = ('payment_type', 'trip_start_hour')

NUM_QUANTILE_BUCKETS = 20
VOCAB_FREQUENCY_THRESHOLD = 5
NUM_OOV_BUCKETS = 1


def scaled(name: str) -> str:
  """Transformed name of a numeric feature's z-score."""
  return f'{name}_z'


def bucketized(name: str) -> str:
  """Transformed name of a numeric feature's quantile bucket."""
  return f'{name}_bucket'


def missing(name: str) -> str:
  """Transformed name of a numeric feature's missing-value indicator."""
  return f'{name}_missing'


def indexed(name: str) -> str:
  """Transformed name of a categorical feature's vocabulary index."""
  return f'{name}_id'
