"""`preprocessing_fn` for TFX Transform: the one place where raw features become model inputs.

Referenced by dotted path (`models.preprocessing.preprocessing_fn`) so the pipeline
compiles for Vertex without uploading a module file. Its graph is embedded in
both serving signatures, so training and serving share the exact same code.
"""
from typing import Dict, Union

import tensorflow as tf
import tensorflow_transform as tft

from models import features

Tensor = Union[tf.Tensor, tf.SparseTensor]


def _dense(x: Tensor, default) -> tf.Tensor:
  """A [batch] dense tensor from a [batch, 1] sparse or dense feature, missing -> default."""
  if isinstance(x, tf.SparseTensor):
    x = tf.sparse.to_dense(
        tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
  return tf.reshape(x, [-1])


def _is_missing(x: Tensor) -> tf.Tensor:
  """1.0 where a [batch, 1] feature has no value, as a [batch] float tensor."""
  if not isinstance(x, tf.SparseTensor):
    return tf.zeros_like(tf.reshape(x, [-1]), dtype=tf.float32)
  present = tf.sparse.to_dense(
      tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.float32), [x.dense_shape[0], 1]))
  return 1.0 - tf.reshape(present, [-1])


def _present_values(x: Tensor) -> tf.Tensor:
  """The values that are present, for analyzers that must ignore missing ones."""
  return x.values if isinstance(x, tf.SparseTensor) else tf.reshape(x, [-1])


def _numeric(x: Tensor, log: bool) -> Dict[str, tf.Tensor]:
  """z-score, quantile bucket and missing indicator; statistics ignore missing values."""
  def scale(v):
    v = tf.cast(v, tf.float32)
    return tf.math.log1p(tf.maximum(v, 0.0)) if log else v
  present = scale(_present_values(x))
  mean = tft.mean(present)
  std = tf.sqrt(tft.var(present)) + 1e-6
  is_missing = _is_missing(x)
  filled = tf.where(is_missing > 0, mean, scale(_dense(x, tf.zeros([], x.dtype))))
  return {
      'z': (filled - mean) / std,
      'bucket': tft.bucketize(filled, features.NUM_QUANTILE_BUCKETS),
      'missing': is_missing,
  }


def _categorical(x: Tensor) -> tf.Tensor:
  if x.dtype == tf.string:
    tokens = _dense(x, '')
  else:
    # Integer codes (hour, area, tract); floats in CSVs such as "17031081500.0" are
    # cast to int64 first so the same code has one token.
    codes = tf.cast(_dense(x, tf.constant(-1, x.dtype)), tf.int64)
    tokens = tf.where(codes < 0, tf.constant(''), tf.strings.as_string(codes))
  return tft.compute_and_apply_vocabulary(
      tokens,
      frequency_threshold=features.VOCAB_FREQUENCY_THRESHOLD,
      num_oov_buckets=features.NUM_OOV_BUCKETS)


def big_tipper_label(inputs: Dict[str, Tensor]) -> tf.Tensor:
  """1 when tips > 20% of the fare, else 0; a missing fare or tip counts as no big tip."""
  fare = _dense(inputs['fare'], tf.constant(float('nan'), inputs['fare'].dtype))
  tips = _dense(inputs['tips'], tf.constant(float('nan'), inputs['tips'].dtype))
  fare = tf.cast(fare, tf.float32)
  tips = tf.cast(tips, tf.float32)
  big = tf.greater(tips, features.BIG_TIP_FRACTION * fare)
  known = tf.logical_not(tf.logical_or(tf.math.is_nan(fare), tf.math.is_nan(tips)))
  return tf.cast(tf.logical_and(big, known), tf.int64)


def preprocessing_fn(inputs: Dict[str, Tensor]) -> Dict[str, tf.Tensor]:
  """TFX Transform entry point: raw feature dict in, model-ready feature dict out."""
  outputs: Dict[str, tf.Tensor] = {}
  for name in features.NUMERIC_FEATURES:
    parts = _numeric(inputs[name], log=name in features.AMOUNT_FEATURES)
    outputs[features.scaled(name)] = parts['z']
    outputs[features.bucketized(name)] = parts['bucket']
    outputs[features.missing(name)] = parts['missing']
  for name in features.CATEGORICAL_FEATURES:
    outputs[features.indexed(name)] = _categorical(inputs[name])
  # At serving time `tips` is absent; TFT prunes this output there.
  outputs[features.LABEL_KEY] = big_tipper_label(inputs)
  return outputs
