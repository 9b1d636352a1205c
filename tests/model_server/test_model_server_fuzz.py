"""Malformed and hostile requests (property-based, seeded and bounded) against REST and gRPC.

Each one must get an answer: REST 200 or a 4xx with an error, gRPC OK, INVALID_ARGUMENT,
NOT_FOUND or RESOURCE_EXHAUSTED; never a 5xx, INTERNAL or UNKNOWN. Two kinds: free-form
bodies and messages, and mutations of a valid request (one field made hostile, the
values found in the reliability review among them). Afterwards a good request still
gets the very answer it got before the fuzzing.
"""
import base64
import json
import os
import shutil

import grpc
import pytest
import requests
import tensorflow as tf
from hypothesis import HealthCheck, given, settings, strategies as st
from tensorflow_serving.apis import classification_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from ctpipe.model_server import versions
from ctpipe.model_server.local import LocalServer
from ctpipe.model_server.rest import Limits
from tests.taxi_requests import ROW, fill_example, grpc_raw_request

MODEL = 'taxi'
FEATURES = ['fare', 'payment_type', 'trip_start_hour', 'company', 'examples', 'inputs', 'x']

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.just({'b64': 'not base64!'}) | st.just({'b64': base64.b64encode(b'\x00\xff').decode()}),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(FEATURES) | st.text(max_size=8), children, max_size=5),
    max_leaves=30)

bodies = st.one_of(
    st.builds(lambda v: {'instances': v}, json_values),
    st.builds(lambda v: {'inputs': v}, json_values),
    st.builds(lambda s, v: {'signature_name': s, 'instances': v},
              st.sampled_from(['serving_default', 'serving_raw', 'classify', 'regress', 'x', '']),
              json_values),
    st.builds(lambda s, v: {'signature_name': s, 'inputs': v},
              st.sampled_from(['serving_raw', 'serving_default', 'transform_labels']),
              st.dictionaries(st.sampled_from(FEATURES), json_values, max_size=6)),
    st.builds(lambda v, c: {'examples': v, 'context': c}, json_values, json_values),
    json_values)

paths = st.sampled_from([f'{MODEL}:predict', f'{MODEL}:classify', f'{MODEL}:regress',
                         f'{MODEL}/versions/1:predict', f'{MODEL}/labels/stable:regress',
                         f'{MODEL}/versions/99999999999999999999:predict', 'x:predict',
                         f'{MODEL}:explode', f'{MODEL}/metadata'])


GOOD = {'signature_name': 'serving_raw', 'instances': [ROW]}
REST_CODES = (200, 400, 404, 413)
GRPC_CODES = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.RESOURCE_EXHAUSTED)
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

# Values that broke the server before (reliability review), and their neighbours.
hostile_values = st.sampled_from([
    2**63, -2**63 - 1, 2**64, 10**30, -10**30, float('inf'), float('-inf'), float('nan'),
    1e39, 1e308, -1e39, 3.4e38, '\ud800', '', 'x' * 3000, True, None, [], [1, 2], [[1]],
    {}, {'b64': '!!'}, {'b64': 'AAEC'}, 'Credit Card', -1, 0, 1]) | json_values


@pytest.fixture(scope='module')
def server(pushed_home, tmp_path_factory):
  _, pushed_base, _, _ = pushed_home
  base = str(tmp_path_factory.mktemp('fuzz') / MODEL)
  shutil.copytree(pushed_base, base)
  with LocalServer(MODEL, base, limits=Limits(max_body_bytes=64 * 1024, max_instances=50)) as s:
    assert s.manager.wait_for_version(1).state == versions.AVAILABLE
    s.good_answer = _good_answer(s)  # what a good request gets before any fuzzing
    yield s


def _good_answer(server) -> float:
  response = requests.post(f'{server.rest_url}/v1/models/{MODEL}:predict', json=GOOD,
                           timeout=30)
  assert response.status_code == 200, response.text
  return response.json()['predictions'][0]['probability']


def _good_request_works(server) -> None:
  example = tf.train.Example()
  example.features.feature['fare'].float_list.value.append(10.0)
  body = {'instances': [{'b64': base64.b64encode(example.SerializeToString()).decode()}]}
  # Required features are missing: a clean 400 naming them, from a healthy server.
  response = requests.post(f'{server.rest_url}/v1/models/{MODEL}:predict', json=body, timeout=30)
  assert response.status_code == 400 and 'payment_type' in response.json()['error']
  assert requests.get(f'{server.rest_url}/v1/models/{MODEL}', timeout=30).status_code == 200


@settings(FUZZ, max_examples=150)
@given(path=paths, body=bodies, raw=st.booleans(), garbage=st.binary(max_size=200))
def test_rest_answers_every_hostile_request(server, path, body, raw, garbage):
  data = garbage if raw else json.dumps(body, allow_nan=True)
  response = requests.post(f'{server.rest_url}/v1/models/{path}', data=data, timeout=30)
  assert response.status_code in REST_CODES, (response.status_code, response.text)
  payload = response.json()
  assert ('error' in payload) == (response.status_code != 200)


def _json_text(body) -> str:
  """JSON as a client may write it: NaN and Infinity literals, lone surrogates escaped."""
  return json.dumps(body, allow_nan=True, ensure_ascii=True)


@settings(FUZZ, max_examples=250)
@given(verb=st.sampled_from(['predict', 'classify', 'regress']),
       feature=st.sampled_from(sorted(ROW) + ['unknown']), value=hostile_values,
       where=st.sampled_from(['value', 'signature_name', 'output_filter', 'context', 'rows']),
       gzip_it=st.booleans())
def test_rest_answers_every_mutation_of_a_good_request(server, verb, feature, value, where,
                                                       gzip_it):
  row = dict(ROW)
  if verb == 'predict':
    body = {'signature_name': 'serving_raw', 'instances': [row]}
  else:
    body = {'signature_name': verb, 'examples': [row]}
  if where == 'value':
    row[feature] = value
  elif where == 'rows':
    body['instances' if verb == 'predict' else 'examples'] = [row] * (
        value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 60
        else 3)
  elif where == 'context':
    body['context'] = {feature: value}
  else:
    body[where] = value
  data = _json_text(body).encode()
  headers = {}
  if gzip_it:
    import gzip  # pylint: disable=g-import-not-at-top
    data, headers = gzip.compress(data), {'Content-Encoding': 'gzip'}
  response = requests.post(f'{server.rest_url}/v1/models/{MODEL}:{verb}', data=data,
                           headers=headers, timeout=30)
  assert response.status_code in REST_CODES, (response.status_code, response.text)
  payload = response.json()
  assert ('error' in payload) == (response.status_code != 200)
  if response.status_code == 200 and verb == 'predict':
    for answer in payload['predictions']:
      assert 0 <= answer['probability'] <= 1, payload  # never a NaN answer


def _tensor(dtype, values, dims):
  proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
      dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]))
  if dtype == types_pb2.DT_STRING:
    proto.string_val.extend(values)
  elif dtype == types_pb2.DT_FLOAT:
    proto.float_val.extend(float(len(v)) for v in values)
  else:
    proto.int64_val.extend(len(v) for v in values)
  return proto


@settings(FUZZ, max_examples=100)
@given(signature=st.sampled_from(['', 'serving_raw', 'classify', 'nope']),
       inputs=st.dictionaries(
           st.sampled_from(FEATURES),
           st.tuples(st.sampled_from([types_pb2.DT_STRING, types_pb2.DT_FLOAT,
                                      types_pb2.DT_INT64, types_pb2.DT_INT32]),
                     st.lists(st.binary(max_size=30), max_size=6),
                     st.lists(st.integers(min_value=-1, max_value=6), max_size=3)),
           max_size=4),
       garbage=st.binary(max_size=100))
def test_grpc_answers_every_hostile_request(server, signature, inputs, garbage):
  with grpc.insecure_channel(server.grpc_target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    for name, (dtype, values, dims) in inputs.items():
      request.inputs[name].CopyFrom(_tensor(dtype, values, dims))
    try:
      stub.Predict(request, timeout=30)
    except grpc.RpcError as e:
      assert e.code() in GRPC_CODES, e
    for method in ('Predict', 'Classify', 'Regress', 'GetModelMetadata'):
      raw_call = channel.unary_unary(f'/tensorflow.serving.PredictionService/{method}',
                                     request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
      try:
        raw_call(garbage, timeout=30)
      except grpc.RpcError as e:  # undecodable bytes too: INVALID_ARGUMENT, not INTERNAL
        assert e.code() in GRPC_CODES, e


_DTYPES = [d for d in types_pb2.DataType.values() if 0 < d < 100]


@settings(FUZZ, max_examples=200)
@given(feature=st.sampled_from(sorted(ROW)), dtype=st.sampled_from(_DTYPES),
       dims=st.lists(st.sampled_from([-1, 0, 1, 2, 3, 50, 10_001, 200_000, 10**12]),
                     max_size=3),
       values=st.lists(st.floats(allow_nan=True, allow_infinity=True) |
                       st.integers(min_value=-2**63, max_value=2**63 - 1), max_size=4),
       content=st.binary(max_size=64), use_content=st.booleans())
def test_grpc_answers_every_mutation_of_a_good_request(server, feature, dtype, dims, values,
                                                       content, use_content):
  request = grpc_raw_request()
  proto = request.inputs[feature]
  proto.Clear()
  proto.dtype = dtype
  for size in dims:
    proto.tensor_shape.dim.add(size=size)
  if use_content:
    proto.tensor_content = content
  elif dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
    getattr(proto, 'float_val' if dtype == types_pb2.DT_FLOAT else 'double_val').extend(
        float(v) for v in values)
  elif dtype in (types_pb2.DT_INT64, types_pb2.DT_INT32):
    getattr(proto, 'int64_val' if dtype == types_pb2.DT_INT64 else 'int_val').extend(
        int(v) % 2**31 if dtype == types_pb2.DT_INT32 and v == v and abs(v) != float('inf')
        else int(v) if v == v and abs(v) != float('inf') else 0 for v in values)
  elif dtype == types_pb2.DT_STRING:
    proto.string_val.extend(str(v).encode() for v in values)
  with grpc.insecure_channel(server.grpc_target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      response = stub.Predict(request, timeout=30)
      probability = tf.make_ndarray(response.outputs['probability'])
      assert ((probability >= 0) & (probability <= 1)).all(), probability
    except grpc.RpcError as e:
      assert e.code() in GRPC_CODES, e


@settings(FUZZ, max_examples=100)
@given(feature=st.sampled_from(sorted(ROW) + ['x']),
       kind=st.sampled_from(['float_list', 'int64_list', 'bytes_list', None]),
       count=st.integers(min_value=0, max_value=3), value=st.floats(allow_nan=True,
                                                                    allow_infinity=True),
       rows=st.sampled_from([0, 1, 2, 51]), method=st.sampled_from(['Classify', 'Regress']))
def test_grpc_classify_and_regress_answer_every_mutated_example(server, feature, kind, count,
                                                                value, rows, method):
  request = classification_pb2.ClassificationRequest()
  request.model_spec.name = MODEL
  request.model_spec.signature_name = method.lower()
  for _ in range(rows):
    example = fill_example(request.input.example_list.examples.add())
    mutated = example.features.feature[feature]
    mutated.Clear()
    if kind == 'float_list':
      mutated.float_list.value.extend([value] * count)
    elif kind == 'int64_list':
      mutated.int64_list.value.extend([int(value) if value == value and abs(value) < 2**62
                                       else 7] * count)
    elif kind == 'bytes_list':
      mutated.bytes_list.value.extend([b'\xff\xfe'] * count)
  with grpc.insecure_channel(server.grpc_target) as channel:
    call = channel.unary_unary(f'/tensorflow.serving.PredictionService/{method}',
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=lambda b: b)
    try:
      call(request, timeout=30)
    except grpc.RpcError as e:
      assert e.code() in GRPC_CODES, e


def test_server_still_serves_after_the_fuzzing(server):
  _good_request_works(server)
  assert _good_answer(server) == server.good_answer  # the very same answer as before
  assert os.path.isdir(server.manager.base_path)
  metrics = requests.get(f'{server.rest_url}/monitoring/prometheus/metrics', timeout=10).text
  assert 'status="500"' not in metrics and 'status="INTERNAL"' not in metrics
  assert 'status="UNKNOWN"' not in metrics
