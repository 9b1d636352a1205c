"""The model server against the hostile requests and clients found in the reliability review.

Each test is one finding, on real sockets against a model pushed by a real run: the
answer must be a 4xx (gRPC: INVALID_ARGUMENT / RESOURCE_EXHAUSTED), never a 500, an
amplified allocation or a silent second server; the server keeps serving afterwards.
"""
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc

from ctpipe.model_server import grpc_api, observability, rest, server as server_lib, versions
from ctpipe.model_server.limits import Limits
from ctpipe.model_server.local import LocalServer
from tests.conftest import REPO
from tests.taxi_requests import MODEL, ROW, fill_example, grpc_raw_request, tensor

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

LIMITS = Limits(max_instances=1000, header_seconds=1.0, body_seconds=1.0,
                keep_alive_seconds=1.0, max_log_line_bytes=64 * 1024)


@pytest.fixture(scope='module')
def served(pushed_home, tmp_path_factory):
  _, pushed_base, _, _ = pushed_home
  base = str(tmp_path_factory.mktemp('hostile') / MODEL)
  shutil.copytree(pushed_base, base)
  log_dir = str(tmp_path_factory.mktemp('requests'))
  with LocalServer(MODEL, base, limits=LIMITS, request_log_dir=log_dir) as server:
    assert server.manager.wait_for_version(1).state == versions.AVAILABLE
    server.log_dir = log_dir
    yield server


def _raw_body(**changes) -> dict:
  return {'signature_name': 'serving_raw', 'instances': [{**ROW, **changes}]}


def _predict(server, body, **kwargs):
  data = body if isinstance(body, (bytes, str)) else json.dumps(body)
  return requests.post(f'{server.rest_url}/v1/models/{MODEL}:predict', data=data, timeout=30,
                       **kwargs)


def _good_answer(server) -> float:
  response = _predict(server, _raw_body())
  assert response.status_code == 200, response.text
  return response.json()['predictions'][0]['probability']


def _grpc_code(server, call: str, request) -> grpc.StatusCode:
  with grpc.insecure_channel(server.grpc_target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      getattr(stub, call)(request, timeout=30)
      return grpc.StatusCode.OK
    except grpc.RpcError as e:
      return e.code()


@pytest.mark.parametrize('name,body', [
    ('output_filter a number', {**_raw_body(), 'output_filter': 5}),
    ('output_filter nested', {**_raw_body(), 'output_filter': [[1]]}),
    ('a 5,001-digit number', json.dumps(_raw_body()).replace('12.5', '9' * 5001)),
    ('a lone surrogate', json.dumps(_raw_body()).replace('"Credit Card"', '"\\ud800"')),
    ('a lone surrogate beside NaN', json.dumps(_raw_body(trip_miles=float('nan')))
     .replace('"Credit Card"', '"\\ud800"')),
    ('Infinity', json.dumps(_raw_body()).replace('12.5', 'Infinity')),
    ('1e39 (beyond float32)', json.dumps(_raw_body()).replace('12.5', '1e39')),
    ('1e308', json.dumps(_raw_body()).replace('12.5', '1e308')),
    ('1e400', json.dumps(_raw_body()).replace('12.5', '1e400')),
    ('-2**63-1 (was rounded into range)', _raw_body(trip_seconds=-2**63 - 1)),
    ('2**64', _raw_body(trip_seconds=2**64)),
])
def test_rest_bad_values_are_400_not_500_or_nan(served, name, body):
  response = _predict(served, body)
  assert response.status_code == 400, (name, response.status_code, response.text)
  assert response.json()['error']


@pytest.mark.parametrize('fare', [[10.0, 12.0], []])
def test_classify_checks_the_schemas_value_count(served, fare):
  body = {'signature_name': 'classify', 'examples': [{**ROW, 'fare': fare}]}
  response = requests.post(f'{served.rest_url}/v1/models/{MODEL}:classify', json=body, timeout=30)
  assert response.status_code == 400 and "feature 'fare'" in response.json()['error'], \
      response.text


def test_grpc_examples_with_two_values_of_a_feature_are_invalid(served):
  request = classification_pb2.ClassificationRequest()
  request.model_spec.name = MODEL
  request.model_spec.signature_name = 'classify'
  example = fill_example(request.input.example_list.examples.add())
  assert _grpc_code(served, 'Classify', request) == grpc.StatusCode.OK
  example.features.feature['fare'].float_list.value.append(3.0)
  assert _grpc_code(served, 'Classify', request) == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize('encoding_case', ['garbage', 'truncated', 'junk after the stream'])
def test_gzip_bodies_that_are_not_one_whole_stream_are_refused(served, encoding_case):
  stream = gzip.compress(json.dumps(_raw_body()).encode())
  body = {'garbage': b'\x1f\x8b' + b'garbage' * 10, 'truncated': stream[:len(stream) // 2],
          'junk after the stream': stream + b'junk'}[encoding_case]
  response = _predict(served, body, headers={'Content-Encoding': 'gzip'})
  assert response.status_code == 400 and 'gzip' in response.json()['error'], response.text
  assert _predict(served, stream, headers={'Content-Encoding': 'gzip'}).status_code == 200


@pytest.mark.parametrize('name,proto,code', [
    ('DT_VARIANT', tensor(types_pb2.DT_VARIANT, [1]), grpc.StatusCode.INVALID_ARGUMENT),
    ('DT_RESOURCE', tensor(types_pb2.DT_RESOURCE, [1]), grpc.StatusCode.INVALID_ARGUMENT),
    ('shape [200000] from one value', tensor(types_pb2.DT_FLOAT, [200_000], float_val=[1.0]),
     grpc.StatusCode.RESOURCE_EXHAUSTED),
    ('shape [50M]', tensor(types_pb2.DT_FLOAT, [50_000_000], float_val=[1.0]),
     grpc.StatusCode.RESOURCE_EXHAUSTED),
    ('shape [10**12]', tensor(types_pb2.DT_FLOAT, [10**12], float_val=[1.0]),
     grpc.StatusCode.RESOURCE_EXHAUSTED),
    ('shape [1, 100000] from one value', tensor(types_pb2.DT_FLOAT, [1, 100_000],
                                                 float_val=[1.0]),
     grpc.StatusCode.INVALID_ARGUMENT),
    ('shape [3] holding 1 value', tensor(types_pb2.DT_FLOAT, [3], float_val=[1.0]),
     grpc.StatusCode.INVALID_ARGUMENT),
    ('+inf', tensor(types_pb2.DT_FLOAT, [1], float_val=[float('inf')]),
     grpc.StatusCode.INVALID_ARGUMENT),
])
def test_grpc_tensors_are_checked_from_their_declared_shape(served, name, proto, code):
  start = time.perf_counter()
  assert _grpc_code(served, 'Predict', grpc_raw_request(fare=proto)) == code, name
  assert time.perf_counter() - start < 2, f'{name}: refused only after work'


def test_grpc_refuses_more_rows_than_rest_allows(served):
  rows = LIMITS.max_instances + 1
  request = grpc_raw_request()
  for name, proto in list(request.inputs.items()):
    values = tf.make_ndarray(proto).repeat(rows)
    request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
  assert _grpc_code(served, 'Predict', request) == grpc.StatusCode.RESOURCE_EXHAUSTED
  too_many = {'signature_name': 'serving_raw', 'instances': [ROW] * rows}
  assert _predict(served, too_many).status_code == 413


def test_a_request_too_large_to_log_is_logged_without_its_rows(served):
  rows = LIMITS.max_instances  # accepted, but its record is over the test's 64 KiB lines
  body = {'signature_name': 'serving_raw', 'instances': [ROW] * rows}
  response = _predict(served, body, headers={'X-Request-Id': 'large-one'})
  assert response.status_code == 200
  with open(os.path.join(served.log_dir, 'requests.jsonl'), encoding='utf-8') as f:
    lines = f.read().splitlines()
  assert max(len(line) for line in lines) <= LIMITS.max_log_line_bytes
  [record] = [json.loads(line) for line in lines if '"large-one"' in line]
  assert record['request'] is None and 'line limit' in record['omitted']


def _open_idle(server, count: int):
  sockets = []
  for _ in range(count):
    sockets.append(socket.create_connection(('127.0.0.1', server.rest_port), timeout=5))
  return sockets


def _closed_by_server(sock: socket.socket, within: float) -> bool:
  """Whether the server closes the connection within `within` seconds."""
  deadline = time.monotonic() + within
  while time.monotonic() < deadline:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
      if sock.recv(1024) == b'':
        return True
    except socket.timeout:
      return False
    except ConnectionResetError:
      return True
  return False


def test_idle_sockets_do_not_lock_out_clients_and_are_closed(served):
  idle = _open_idle(served, 400)  # more than the old 256-connection limit
  try:
    assert _good_answer(served) > 0  # not 503
    assert all(_closed_by_server(s, LIMITS.header_seconds + 2) for s in idle[:5])
  finally:
    for s in idle:
      s.close()


def test_slow_headers_and_stalled_bodies_are_closed(served):
  slow = socket.create_connection(('127.0.0.1', served.rest_port), timeout=5)
  slow.sendall(b'POST /v1/models/taxi:predict HTTP/1.1\r\nHost: x\r\n')  # never finished
  stalled = socket.create_connection(('127.0.0.1', served.rest_port), timeout=5)
  stalled.sendall(b'POST /v1/models/taxi:predict HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Length: 100\r\n\r\n{"instances"')  # 88 bytes never come
  start = time.monotonic()
  try:
    assert _closed_by_server(slow, LIMITS.header_seconds + 2)
    assert _closed_by_server(stalled, LIMITS.body_seconds + 2)
    assert time.monotonic() - start < LIMITS.header_seconds + LIMITS.body_seconds + 3
  finally:
    slow.close()
    stalled.close()
  keep_alive = requests.Session()
  assert keep_alive.get(f'{served.rest_url}/v1/models/{MODEL}', timeout=10).status_code == 200
  time.sleep(LIMITS.keep_alive_seconds + 1)
  assert _good_answer(served) > 0


def test_metrics_carry_tf_serving_names_real_statuses_and_grpc_versions(served):
  _good_answer(served)
  assert _predict(served, {**_raw_body(), 'output_filter': 5}).status_code == 400
  assert _grpc_code(served, 'Predict', grpc_raw_request()) == grpc.StatusCode.OK
  text = requests.get(f'{served.rest_url}/monitoring/prometheus/metrics', timeout=10).text
  assert ':tensorflow:serving:request_count{model_name="taxi",status="OK"}' in text
  assert ':tensorflow:serving:request_count{model_name="taxi",status="INVALID_ARGUMENT"}' in text
  assert ':tensorflow:serving:request_latency_bucket{API="predict",entrypoint="GRPC"' in text
  assert 'api="grpc_predict",model="taxi",status="OK",version="1"' in text
  assert 'version="?"' not in text


class _BrokenManager(versions.VersionManager):
  """A version whose calls fail inside the server (not the request's fault)."""

  def resolve(self, version=None, label=None):
    raise RuntimeError('storage went away')


def test_a_server_failure_is_one_500_counted_as_500(pushed_home, caplog):
  _, base, _, _ = pushed_home
  manager = _BrokenManager(MODEL, base)
  observer = observability.Observer()
  app = rest.create_app(manager, LIMITS, observer)
  from starlette.testclient import TestClient  # pylint: disable=g-import-not-at-top
  with TestClient(app, raise_server_exceptions=False) as client:
    response = client.post(f'/v1/models/{MODEL}:predict', json=_raw_body())
    assert response.status_code == 500 and response.json()['error'].startswith('internal')
    text = client.get('/monitoring/prometheus/metrics').text
  assert 'status="500"' in text and 'status="INTERNAL"' in text
  assert sum('Traceback' in r.getMessage() or r.exc_info is not None
             for r in caplog.records) == 1


def test_a_second_grpc_server_cannot_share_the_port(served):
  with pytest.raises(grpc_api.PortInUseError, match='in use'):
    grpc_api.create_server(served.manager, served.grpc_port)
  with pytest.raises(server_lib.PortInUseError, match='in use'):
    server_lib.listen('127.0.0.1', served.rest_port)


@pytest.mark.parametrize('which', ['rest', 'grpc'])
def test_ctpipe_serve_on_a_busy_port_exits_5_before_announcing(served, tmp_path, which):
  busy = served.rest_port if which == 'rest' else served.grpc_port
  free = server_lib.listen('127.0.0.1', 0)
  free_port = free.getsockname()[1]
  free.close()
  ports = ['--rest-port', str(busy), '--grpc-port', str(free_port)] if which == 'rest' else \
      ['--rest-port', str(free_port), '--grpc-port', str(busy)]
  done = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), 'ctpipe'), 'serve', '--home', str(tmp_path),
       '--model-base-path', served.manager.base_path, *ports],
      capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
  assert done.returncode == 5, (done.stdout, done.stderr)
  assert 'serving' not in done.stdout
  error_lines = [line for line in done.stderr.splitlines() if line.startswith('error:')]
  assert len(error_lines) == 1 and str(busy) in error_lines[0], done.stderr


def test_json_whole_numbers_for_float_features_classify_and_an_empty_list_is_missing(served):
  whole = {**ROW, 'fare': 12, 'pickup_latitude': 42}  # JSON cannot tell 12 from 12.0
  response = requests.post(f'{served.rest_url}/v1/models/{MODEL}:classify', timeout=30,
                           json={'signature_name': 'classify', 'examples': [whole]})
  assert response.status_code == 200, response.text
  missing = {**ROW, 'company': []}
  response = requests.post(f'{served.rest_url}/v1/models/{MODEL}:classify', timeout=30,
                           json={'signature_name': 'classify', 'examples': [missing]})
  assert response.status_code == 200, response.text  # company is optional
