"""Request arrays as tensors: the same values as tf.constant, and memory that stays flat."""
import gc

import numpy as np
import pytest
import tensorflow as tf

from ctpipe.model_server import tensors


@pytest.mark.parametrize('array', [
    np.array([1.5, np.nan, -2.0], np.float32), np.array([[1, 2], [3, 4]], np.int64),
    np.array([7], np.int32), np.array([], np.float32), np.array([0.25], np.float64),
    np.array([True, False]), np.arange(1000, dtype=np.int64)])
def test_numbers_are_the_same_tensor_as_tf_constant(array):
  ours, theirs = tensors.numeric(array), tf.constant(array)
  assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
  np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_a_copy_is_made_so_the_request_array_can_change():
  array = np.array([1.0, 2.0], np.float32)
  tensor = tensors.numeric(array)
  array[0] = 99
  assert tensor.numpy().tolist() == [1.0, 2.0]


def test_strings_of_several_inputs_come_back_in_one_call():
  columns = [np.array(['Credit Card', '', 'Cash'], dtype=object),
             np.array([b'\xff\x00raw', b'x', b''], dtype=object),
             np.array(['caf\u00e9', 'na\u00efve', '\u65e5\u672c'], dtype=object),
             np.array([], dtype=object), np.array([['a', 'bb'], ['ccc', '']], dtype=object)]
  built = tensors.strings(columns)
  for tensor, column in zip(built, columns):
    expected = [v.encode() if isinstance(v, str) else v for v in column.reshape(-1)]
    assert tensor.dtype == tf.string and tuple(tensor.shape) == column.shape
    assert tensor.numpy().reshape(-1).tolist() == expected


def _rss_mib() -> float:
  with open('/proc/self/status', encoding='ascii') as f:
    return next(int(line.split()[1]) for line in f if line.startswith('VmRSS')) / 1024


def test_making_tensors_does_not_grow_memory():
  numbers = np.array([12.5, 3.0, 1.0, 2.0], np.float32)
  words = np.array(['Credit Card', 'Cash', '', 'Dispute'], dtype=object)
  for _ in range(2000):  # warm up: allocator pools, the builder's trace
    tensors.numeric(numbers), tensors.strings([words, words])
  gc.collect()
  before = _rss_mib()
  for _ in range(50_000):
    tensors.numeric(numbers), tensors.strings([words, words])
  gc.collect()
  # tf.constant leaked ~320 bytes a tensor here: 3 a round, ~46 MiB for 50,000 rounds.
  # The bound leaves room for the allocator's own noise in a busy test worker (~7 MiB seen).
  assert _rss_mib() - before < 15, _rss_mib() - before
