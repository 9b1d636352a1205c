"""`preprocessing_fn` for TFX Transform: the one place where raw features become model inputs.

Referenced by dotted path (`models.preprocessing.preprocessing_fn`) so the pipeline
compiles for Vertex without uploading a module file. Its graph is embedded in
both serving signatures, so training and serving share the exact same code.

Which column gets which treatment is the data set's definition, handed over by
Transform as `custom_config` (`models.features.FeatureContract`). Analyzers are few on
purpose: each costs Beam stages and tracing. All numeric features share one `tft.sum`
(means and variances of present values) and one elementwise quantiles pass; integer
codes with known ranges and hashed codes need none; only string features compute a
vocabulary.
"""
from typing import Any, Dict, Mapping, Optional, Union

import tensorflow as tf
import tensorflow_transform as tft

from models import features
from models.features import FeatureContract

Tensor = Union[tf.Tensor, tf.SparseTensor]

# Transform runs this function as a TF1 graph: TF2 mode traces it into tf.functions
# several times over (analysis phases, transform, export), much slower. The pipeline
# and the tests both use this setting.
FORCE_TF_COMPAT_V1 = True


def dense(x: Tensor, default) -> tf.Tensor:
  """A [batch] dense tensor from a [batch, 1] sparse or dense feature, missing -> default."""
  if isinstance(x, tf.SparseTensor):
    x = tf.sparse.to_dense(
        tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
  return tf.reshape(x, [-1])


def present(x: Tensor) -> tf.Tensor:
  """1.0 where a [batch, 1] feature has a value, as a [batch] float tensor."""
  if not isinstance(x, tf.SparseTensor):
    return tf.ones_like(tf.reshape(x, [-1]), dtype=tf.float32)
  ones = tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.float32), [x.dense_shape[0], 1])
  return tf.reshape(tf.sparse.to_dense(ones), [-1])


def _numeric_block(inputs: Dict[str, Tensor], contract: FeatureContract) -> Dict[str, tf.Tensor]:
  """z-scores, quantile buckets and missing indicators of every numeric feature."""
  names = contract.numeric_features
  if not names:
    return {}
  columns, bucket_columns, presence = [], [], []
  for name in names:
    x = inputs[name]
    value = tf.cast(dense(x, tf.zeros([], x.dtype)), tf.float32)
    if name in contract.amount_features:
      value = tf.maximum(value, 0.0)
      bucket_columns.append(value)
      value = tf.math.log1p(value)
    else:
      bucket_columns.append(value)
    columns.append(value)
    presence.append(present(x))
  values = tf.stack(columns, axis=1)  # [batch, k]; a missing value is 0 here
  mask = tf.stack(presence, axis=1)
  # float64: E[x^2] - E[x]^2 cancels catastrophically in float32 for coordinates
  # (latitude ~41.9, standard deviation ~0.05), which once gave std ~0 and z-scores ~1e5.
  wide, wide_mask = tf.cast(values, tf.float64), tf.cast(mask, tf.float64)
  sums = tft.sum(tf.concat([wide * wide_mask, wide * wide * wide_mask, wide_mask], axis=1),
                 reduce_instance_dims=False)
  k = len(names)
  count = tf.maximum(sums[2 * k:], 1.0)
  mean64 = sums[:k] / count
  variance = tf.maximum(sums[k:2 * k] / count - mean64 * mean64, 0.0)
  mean = tf.cast(mean64, tf.float32)
  std = tf.cast(tf.sqrt(variance), tf.float32) + 1e-6
  filled = tf.where(mask > 0, values, mean)
  scaled = (filled - mean) / std
  # Missing values sit at 0, below every observed value: they get a bucket of their own.
  # Quantiles of the amounts themselves, not of their logs (same buckets: log1p is
  # monotonic): boundaries are observed values, and a log computed one ulp apart on
  # another runtime (TFLite on the edge) would move a value sitting on one.
  buckets = tft.bucketize(tf.stack(bucket_columns, axis=1),
                          contract.treatments.quantile_buckets, elementwise=True)
  outputs = {}
  for i, name in enumerate(names):
    outputs[features.scaled(name)] = scaled[:, i]
    outputs[features.bucketized(name)] = buckets[:, i]
    outputs[features.missing(name)] = 1.0 - mask[:, i]
  return outputs


def _ranged_index(x: Tensor, low: int, high: int) -> tf.Tensor:
  code = tf.cast(dense(x, tf.constant(low - 1, x.dtype)), tf.int64)
  inside = tf.logical_and(code >= low, code <= high)
  return tf.where(inside, code - low + 1, tf.zeros_like(code))


def _hashed_index(x: Tensor, buckets: int) -> tf.Tensor:
  code = tf.cast(dense(x, tf.constant(-1, x.dtype)), tf.int64)
  hashed = tf.strings.to_hash_bucket_fast(tf.strings.as_string(code), buckets) + 1
  return tf.where(code < 0, tf.zeros_like(hashed), hashed)


def _vocabulary_index(x: Tensor, contract: FeatureContract) -> tf.Tensor:
  return tft.compute_and_apply_vocabulary(
      dense(x, ''), frequency_threshold=contract.treatments.vocabulary_min_frequency,
      num_oov_buckets=contract.treatments.oov_buckets)


def _days_from_civil(year: tf.Tensor, month: tf.Tensor, day: tf.Tensor) -> tf.Tensor:
  """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), int64."""
  year = year - tf.cast(month <= 2, tf.int64)
  era = tf.math.floordiv(year, 400)
  yoe = year - era * 400
  mp = tf.math.floormod(month + 9, 12)
  doy = tf.math.floordiv(153 * mp + 2, 5) + day - 1
  doe = yoe * 365 + tf.math.floordiv(yoe, 4) - tf.math.floordiv(yoe, 100) + doy
  return era * 146097 + doe - 719468


def _civil_from_days(days: tf.Tensor):
  """(month, day) of days since 1970-01-01 (H. Hinnant's algorithm), int64."""
  z = days + 719468
  era = tf.math.floordiv(z, 146097)
  doe = z - era * 146097
  yoe = tf.math.floordiv(doe - tf.math.floordiv(doe, 1460) + tf.math.floordiv(doe, 36524)
                         - tf.math.floordiv(doe, 146096), 365)
  doy = doe - (365 * yoe + tf.math.floordiv(yoe, 4) - tf.math.floordiv(yoe, 100))
  mp = tf.math.floordiv(5 * doy + 2, 153)
  day = doy - tf.math.floordiv(153 * mp + 2, 5) + 1
  month = tf.where(mp < 10, mp + 3, mp - 9)
  return month, day


def calendar_parts(x: Tensor) -> Dict[str, tf.Tensor]:
  """Month (1..12), weekday (Monday 1..Sunday 7) and hour + 1 (1..24) of a date column,
  0 where it is missing or unreadable. ISO text ('2024-03-05', '2024-03-05 14:30:00',
  'T' or space) or epoch seconds."""
  if x.dtype == tf.string:
    text = dense(x, '')
    readable = tf.strings.regex_full_match(text, r'\d{4}-\d{2}-\d{2}([T ].*)?')
    text = tf.where(readable, text, '1970-01-01')
    # Padded, so that every substring exists (tf.where computes both of its branches).
    padded = tf.strings.join([text, '0000000000000'])
    digits = lambda start, width: tf.strings.to_number(  # noqa: E731
        tf.strings.substr(padded, start, width), tf.int64)
    year, month, day = digits(0, 4), digits(5, 2), digits(8, 2)
    has_hour = tf.strings.regex_full_match(text, r'.{11}\d{2}.*')
    hour = tf.strings.to_number(
        tf.where(has_hour, tf.strings.substr(padded, 11, 2), '00'), tf.int64)
    days = _days_from_civil(year, month, day)
  else:
    seconds = tf.cast(dense(x, tf.constant(-1, x.dtype)), tf.int64)
    readable = seconds >= 0
    seconds = tf.maximum(seconds, 0)
    days = tf.math.floordiv(seconds, 86400)
    month, _ = _civil_from_days(days)
    hour = tf.math.floordiv(tf.math.floormod(seconds, 86400), 3600)
  weekday = tf.math.floormod(days + 3, 7) + 1  # 1970-01-01 was a Thursday (4)
  zero = tf.zeros_like(days)
  return {'month': tf.where(readable, month, zero), 'weekday': tf.where(readable, weekday, zero),
          'hour': tf.where(readable, tf.clip_by_value(hour, 0, 23) + 1, zero)}


def _as_float(x: Tensor) -> Tensor:
  if isinstance(x, tf.SparseTensor):
    return tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32), x.dense_shape)
  return tf.cast(x, tf.float32)


def _class_index(x: Tensor, classes) -> tf.Tensor:
  """The index of each row's class among `classes` (int64 [batch]); -1 for any other value,
  which training refuses (the schema's domain of the label stops such data first)."""
  if x.dtype == tf.string:
    values = dense(x, '')
    matches = [tf.equal(values, name.encode()) for name in classes]
  else:
    values = tf.cast(dense(x, tf.constant(float('nan'), tf.float64)
                           if x.dtype.is_floating else tf.constant(-1, x.dtype)), tf.float64)
    matches = [tf.equal(values, float(name)) for name in classes]
  hits = tf.stack(matches, axis=1)
  return tf.where(tf.reduce_any(hits, axis=1), tf.argmax(tf.cast(hits, tf.int64), axis=1),
                  tf.constant(-1, tf.int64))


def label(inputs: Dict[str, Tensor], contract: FeatureContract) -> tf.Tensor:
  """The label as a [batch] tensor: the data set's `label_fn`, or its label column.

  Binary: 0/1 (int64); multiclass: the class's index in `classes` (int64); regression: the
  value (float32, NaN where missing).
  """
  derive = contract.label_function()
  if derive is not None:
    return derive(inputs)
  x = inputs[contract.label]
  if contract.task == 'regression':
    return dense(_as_float(x), tf.constant(float('nan'), tf.float32))
  if contract.task == 'multiclass':
    return _class_index(x, contract.classes)
  if not contract.positive_class:
    return tf.cast(dense(x, tf.zeros([], x.dtype)), tf.int64)
  if x.dtype == tf.string:
    return tf.cast(tf.equal(dense(x, ''), contract.positive_class.encode()), tf.int64)
  value = tf.cast(dense(x, tf.zeros([], x.dtype)), tf.float64)
  return tf.cast(tf.equal(value, float(contract.positive_class)), tf.int64)


def preprocessing_fn(inputs: Dict[str, Tensor],
                     custom_config: Optional[Mapping[str, Any]] = None) -> Dict[str, tf.Tensor]:
  """TFX Transform entry point: raw feature dict in, model-ready feature dict out.

  `custom_config` carries the data set's feature contract (TFX passes a Transform's
  custom_config to a preprocessing_fn that takes one).
  """
  contract = FeatureContract.from_config(custom_config)
  outputs = _numeric_block(inputs, contract)
  for name, (low, high) in contract.ranged_features.items():
    outputs[features.indexed(name)] = _ranged_index(inputs[name], low, high)
  for name, buckets in contract.hashed_features.items():
    outputs[features.indexed(name)] = _hashed_index(inputs[name], buckets)
  for name in contract.vocabulary_features:
    outputs[features.indexed(name)] = _vocabulary_index(inputs[name], contract)
  for name in contract.date_features:
    for part, value in calendar_parts(inputs[name]).items():
      outputs[features.date_part(name, part)] = value
  # At serving time the label (and the columns it derives from) are absent; TFT prunes
  # this output there.
  outputs[contract.label] = label(inputs, contract)
  return outputs
