"""The Chicago-taxi data set's one piece of code: its derived label (`dataset.label_fn`).

Everything else about taxi is declared in config/ctpipe.yaml.
"""
from typing import Dict

import tensorflow as tf

from models.preprocessing import Tensor, dense, present

# A big tipper tips more than 1/5 of the fare, compared exactly in cents.
BIG_TIP_NUMERATOR, BIG_TIP_DENOMINATOR = 1, 5


def _cents(amount: tf.Tensor) -> tf.Tensor:
  return tf.cast(tf.round(tf.cast(amount, tf.float64) * 100.0), tf.int64)


def big_tipper_label(inputs: Dict[str, Tensor]) -> tf.Tensor:
  """1 when tips > 20% of the fare, else 0; a missing fare or tip counts as no big tip."""
  # Compared in whole cents: in float32, tips == 20% of the fare exactly (a common
  # tip) came out "greater" for some fares and mislabelled 8 of the 15k rows.
  fare = _cents(dense(inputs['fare'], tf.zeros([], inputs['fare'].dtype)))
  tips = _cents(dense(inputs['tips'], tf.zeros([], inputs['tips'].dtype)))
  known = tf.logical_and(present(inputs['fare']) > 0, present(inputs['tips']) > 0)
  big = tf.greater(tips * BIG_TIP_DENOMINATOR, fare * BIG_TIP_NUMERATOR)
  return tf.cast(tf.logical_and(big, known), tf.int64)
