"""The taxi model's feature contract: raw columns, how each is treated, and the label.

Everything that names a column lives here so that preprocessing, the model, the
serving signatures and the evaluation config agree by construction.
"""
from typing import Dict, Optional, Tuple

# Label: a "big tipper" tips more than 20% of the fare. Derived from raw `tips`,
# which is therefore never a model input and never needed at serving time.
LABEL_KEY = 'big_tipper'
LABEL_SOURCE_KEYS: Tuple[str, ...] = ('tips',)
# More than 1/5 of the fare, compared exactly in cents.
BIG_TIP_NUMERATOR, BIG_TIP_DENOMINATOR = 1, 5

# Skewed positive amounts: log1p, then z-score and quantile buckets.
AMOUNT_FEATURES: Tuple[str, ...] = ('fare', 'trip_miles', 'trip_seconds')
# Coordinates: z-score and quantile buckets, plus a missing-value indicator.
GEO_FEATURES: Tuple[str, ...] = (
    'pickup_latitude', 'pickup_longitude', 'dropoff_latitude', 'dropoff_longitude')
# Integer codes with a fixed range (the curated schema's int_domain; a test checks they
# agree): index = code - min + 1, and 0 for a missing or out-of-range code. No analyzer.
RANGED_INT_FEATURES: Dict[str, Tuple[int, int]] = {
    'trip_start_hour': (0, 23),
    'trip_start_day': (1, 7),
    'trip_start_month': (1, 12),
    'pickup_community_area': (1, 77),
    'dropoff_community_area': (1, 77),
}
# Integer codes without a useful range (census tracts): hashed, 0 for missing.
HASHED_INT_FEATURES: Dict[str, int] = {'dropoff_census_tract': 256}
# Strings: a vocabulary computed by Transform.
VOCABULARY_FEATURES: Tuple[str, ...] = ('payment_type', 'company')

NUMERIC_FEATURES: Tuple[str, ...] = AMOUNT_FEATURES + GEO_FEATURES
CATEGORICAL_FEATURES: Tuple[str, ...] = (
    tuple(RANGED_INT_FEATURES) + tuple(HASHED_INT_FEATURES) + VOCABULARY_FEATURES)
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


def static_cardinality(name: str) -> Optional[int]:
  """Number of indices of a categorical input that needs no analyzer, else None."""
  if name in RANGED_INT_FEATURES:
    low, high = RANGED_INT_FEATURES[name]
    return high - low + 2
  if name in HASHED_INT_FEATURES:
    return HASHED_INT_FEATURES[name] + 1
  return None
