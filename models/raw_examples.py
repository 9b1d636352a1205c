"""Raw CSV rows as serialized `tf.Example`s, typed like the model's raw features.

For clients and checks that feed the `serving_default` signature from CSV data (the
benchmarks, the tests, later the serving check and warmup requests).
"""
from typing import Mapping

import tensorflow as tf


def to_tf_example(row: Mapping[str, str], specs: Mapping[str, tf.TensorSpec]) -> bytes:
  """One CSV row (column -> text) as a serialized tf.Example; '' means missing.

  Only columns named in `specs` are kept, each converted to the spec's dtype.
  """
  feature = {}
  for name, value in row.items():
    if name not in specs or value == '':
      continue
    dtype = specs[name].dtype
    if dtype == tf.string:
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    elif dtype.is_floating:
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    else:
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(value))]))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
