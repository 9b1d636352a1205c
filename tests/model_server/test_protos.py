"""gRPC TensorProto decoding: exactly tf.make_ndarray's values, and only what the shape declares."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from ctpipe.model_server import protos
from ctpipe.model_server.limits import Limits
from ctpipe.model_server.served_model import RequestError, TooLargeError


def _decode(proto, limits=Limits()):
  return protos._tensor_to_array('x', proto, limits)  # pylint: disable=protected-access


@pytest.mark.parametrize('value', [
    np.array([1.5, np.nan], np.float32), np.array([[1, 2], [3, 4]], np.int64),
    np.array([b'a', b''], dtype=object), np.array(3.0, np.float64), np.array([], np.float32),
    np.array([7], np.int32), np.array([True, False])])
def test_tensors_decode_exactly_like_tensorflow(value):
  proto = tf.make_tensor_proto(value)
  ours, theirs = _decode(proto), tf.make_ndarray(proto)
  assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
  if value.dtype == object:
    assert ours.tolist() == theirs.tolist()
  else:
    np.testing.assert_array_equal(ours, theirs)


def _float_proto(dims, values):
  return tensor_pb2.TensorProto(
      dtype=types_pb2.DT_FLOAT, float_val=values, tensor_shape=tensor_shape_pb2.TensorShapeProto(
          dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in dims]))


def test_values_listed_one_by_one_decode_and_one_value_filling_a_tensor_is_refused():
  assert _decode(_float_proto([2], [2.0, 3.0])).tolist() == [2.0, 3.0]
  request = predict_pb2.PredictRequest()
  request.inputs['x'].CopyFrom(_float_proto([3], [2.0]))  # TF would repeat the value
  with pytest.raises(RequestError, match=r'shape \[3\] holds 3 values; the tensor has 1'):
    protos.decode_inputs(request)


def test_the_declared_shape_is_bounded_before_any_allocation():
  with pytest.raises(TooLargeError, match='rows'):
    _decode(_float_proto([10**12], [1.0]))
  with pytest.raises(TooLargeError, match='values'):
    _decode(_float_proto([1, 10**9], [1.0]))
  with pytest.raises(RequestError, match='negative'):
    _decode(_float_proto([-1], []))
  variant = tensor_pb2.TensorProto(dtype=types_pb2.DT_VARIANT)
  with pytest.raises(RequestError, match='DT_VARIANT is not accepted'):
    _decode(variant)
