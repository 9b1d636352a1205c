"""Request arrays as tensors, without TensorFlow's per-tensor leak on Python 3.11+.

On Python 3.11 and later, every EagerTensor made by its Python constructor
(`tf.constant`, `tf.convert_to_tensor`) leaks about 320 bytes in TF 2.16
(tensorflow/tensorflow#62551, #68196); a 15-input request leaked ~4.8 KB, so a server
grew without bound under load. Tensors that TensorFlow itself makes, as op outputs or
from DLPack, do not leak. So:

- numbers go through DLPack from a 64-byte-aligned copy (TensorFlow requires the
  alignment), which is also faster than `tf.constant`;
- strings of every string input of a request travel as their bytes and lengths
  (DLPack again) and are rebuilt inside the graph: `packed` wraps a signature so that
  one call rebuilds its strings and runs it (no second graph call).

Private TensorFlow internal used: `ConcreteFunction._call_flat` (as served_model.py);
guarded by tests/model_server/test_tensors.py, which checks the values and that memory stays flat.
"""
import functools
from typing import List, Sequence

import numpy as np
import tensorflow as tf

_ALIGNMENT = 64  # EIGEN_MAX_ALIGN_BYTES with AVX-512: TensorFlow checks it on import
_DLPACK_DTYPES = frozenset(np.dtype(t) for t in (
    np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
    np.uint8, np.uint16, np.uint32, np.uint64))


def _aligned_copy(array: np.ndarray) -> np.ndarray:
  buffer = np.empty(array.nbytes + _ALIGNMENT, np.uint8)
  offset = (-buffer.ctypes.data) % _ALIGNMENT
  copy = buffer[offset:offset + array.nbytes].view(array.dtype).reshape(array.shape)
  copy[...] = array
  return copy


def numeric(array: np.ndarray) -> tf.Tensor:
  """A tensor holding a copy of a numeric array."""
  if array.dtype not in _DLPACK_DTYPES:
    return tf.constant(array)  # bool and rarer dtypes: TensorFlow's own path
  if array.size == 0:
    return tf.zeros(array.shape, tf.as_dtype(array.dtype))
  return tf.experimental.dlpack.from_dlpack(_aligned_copy(array).__dlpack__())


_PACKED_SPECS = [tf.TensorSpec([None], tf.uint8), tf.TensorSpec([None], tf.int64)]


def rebuild(data: tf.Tensor, lengths: tf.Tensor, counts: tf.Tensor, columns: int
            ) -> List[tf.Tensor]:
  """In a graph: (bytes, lengths, values per column) -> one flat string tensor per column.

  `serialize_tensor` of the uint8 bytes is a TensorProto whose last field is the raw
  bytes (fields are written in number order, tensor_content last): the joined string is
  cut from its end, then into the values by their lengths.
  """
  serialized = tf.io.serialize_tensor(data)
  size = tf.size(data, out_type=tf.int32)
  joined = tf.strings.substr(serialized, tf.strings.length(serialized) - size, size)
  lengths = tf.cast(lengths, tf.int32)
  starts = tf.cumsum(lengths, exclusive=True)
  values = tf.strings.substr(joined, starts, lengths)  # the scalar broadcasts: no copies
  return tf.split(values, counts, num=columns)


@functools.lru_cache(maxsize=None)
def _builder(columns: int):
  """`rebuild` alone, as a graph function (for string inputs not of rank 1)."""
  @tf.function(autograph=False, input_signature=_PACKED_SPECS + [
      tf.TensorSpec([columns], tf.int64)])
  def build(data, lengths, counts):
    return rebuild(data, lengths, counts, columns)
  return build.get_concrete_function()


def packed(function, string_names: Sequence[str], numeric_specs: Sequence[tuple]):
  """`function` (a signature) as one graph function of (bytes, lengths, counts, *numbers):
  its rank-1 string inputs `string_names` rebuilt in the graph, then the signature run.
  `numeric_specs`: (name, tf.TensorSpec) of the other inputs, in the order given."""
  columns = len(string_names)

  @tf.function(autograph=False, input_signature=_PACKED_SPECS + [
      tf.TensorSpec([columns], tf.int64)] + [spec for _, spec in numeric_specs])
  def call(data, lengths, counts, *numbers):
    inputs = dict(zip(string_names, rebuild(data, lengths, counts, columns)))
    inputs.update(zip([name for name, _ in numeric_specs], numbers))
    return function(**inputs)
  return call.get_concrete_function()


def pack_strings(columns: Sequence[np.ndarray]) -> List[tf.Tensor]:
  """The (bytes, lengths, counts) tensors `rebuild` takes, for object arrays of str/bytes."""
  flat = [list(column.reshape(-1)) for column in columns]
  parts = [_encoded(values) for values in flat]
  data = np.frombuffer(b''.join(p[0] for p in parts), np.uint8)
  lengths = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
  counts = np.array([len(values) for values in flat], np.int64)
  return [numeric(data), numeric(lengths), numeric(counts)]


def _encoded(values: list) -> tuple:
  """(the values' bytes joined, each value's byte length)."""
  if all(type(v) is bytes for v in values):
    return b''.join(values), np.fromiter(map(len, values), np.int64, len(values))
  if all(type(v) is str for v in values):
    joined = ''.join(values)
    if joined.isascii():  # one byte a character: lengths without encoding each value
      return joined.encode('ascii'), np.fromiter(map(len, values), np.int64, len(values))
  encoded = [v if type(v) is bytes else v.encode('utf-8') for v in values]
  return b''.join(encoded), np.fromiter(map(len, encoded), np.int64, len(encoded))


def strings(columns: Sequence[np.ndarray]) -> List[tf.Tensor]:
  """String tensors for object arrays of str/bytes, in one graph call for all of them."""
  if not columns:
    return []
  function = _builder(len(columns))
  built = function._call_flat(pack_strings(columns), function.captured_inputs)  # pylint: disable=protected-access
  return [tensor if column.ndim == 1 else tf.reshape(tensor, column.shape)
          for tensor, column in zip(built, columns)]
