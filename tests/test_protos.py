"""gRPC TensorProto decoding: the direct path agrees with tf.make_ndarray, or defers to it."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from model_server import protos


@pytest.mark.parametrize('value', [
    np.array([1.5, np.nan], np.float32), np.array([[1, 2], [3, 4]], np.int64),
    np.array([b'a', b''], dtype=object), np.array(3.0, np.float64), np.array([], np.float32),
    np.array([7], np.int32)])
def test_plain_tensors_decode_exactly_like_tensorflow(value):
  proto = tf.make_tensor_proto(value)
  ours, theirs = protos._plain_array(proto), tf.make_ndarray(proto)  # pylint: disable=protected-access
  assert ours is not None and ours.dtype == theirs.dtype and ours.shape == theirs.shape
  if value.dtype == object:
    assert ours.tolist() == theirs.tolist()
  else:
    np.testing.assert_array_equal(ours, theirs)


def _float_proto(size, values):
  return tensor_pb2.TensorProto(
      dtype=types_pb2.DT_FLOAT, float_val=values, tensor_shape=tensor_shape_pb2.TensorShapeProto(
          dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size)]))


def test_values_listed_one_by_one_and_one_value_filling_a_tensor():
  assert protos._plain_array(_float_proto(2, [2.0, 3.0])).tolist() == [2.0, 3.0]  # pylint: disable=protected-access
  fill = _float_proto(3, [2.0])
  assert protos._plain_array(fill) is None  # pylint: disable=protected-access
  request = predict_pb2.PredictRequest()
  request.inputs['x'].CopyFrom(fill)
  assert protos.decode_inputs(request)['x'].tolist() == [2.0, 2.0, 2.0]
