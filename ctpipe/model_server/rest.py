"""TF Serving's REST API on Starlette: status, metadata, predict, classify, regress.

Paths, bodies, response shapes and errors (`{"error": ...}`, 400 / 404) follow
https://www.tensorflow.org/tfx/serving/api_rest so clients and tests written for
the real TF Serving work unchanged. Limits are enforced before anything is decoded.
A request the server fails on is answered 500 once, logged once, and counted as 500.
"""
import logging
import re
import time
import zlib
from typing import Optional, Tuple

import numpy as np
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ctpipe.model_server import json_codec, observability
from ctpipe.model_server.limits import Limits
from ctpipe.model_server.served_model import NotFoundError, RequestError, ServedModel, TooLargeError
from ctpipe.model_server.versions import STATE_NAMES, ModelSet, VersionManager

# A request this small (a few rows) is answered on the event loop: the hand-off to a worker
# thread and back costs more than its model call blocks the loop.
# Larger ones run in Starlette's thread pool, where TensorFlow releases the GIL.
INLINE_BODY_BYTES = 8 * 1024

_PATH = re.compile(
    r'^(?P<name>[A-Za-z0-9_.\-]{1,128})'
    r'(?:/versions/(?P<version>[0-9]{1,18})|/labels/(?P<label>[A-Za-z0-9_\-]{1,64}))?'
    r'(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?$')

__all__ = ['Limits', 'create_app', 'read_body']



def _error(status: int, message: str) -> JSONResponse:
  return JSONResponse({'error': message}, status_code=status)


async def read_body(request: Request, limits: Limits) -> bytes:
  declared = request.headers.get('content-length')
  if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
    raise TooLargeError(f'request body of {declared} bytes; at most {limits.max_body_bytes}')
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > limits.max_body_bytes:
      raise TooLargeError(f'request body over {limits.max_body_bytes} bytes')
    chunks.append(chunk)
  body = b''.join(chunks)
  encoding = request.headers.get('content-encoding', 'identity').strip().lower()
  if encoding in ('', 'identity'):
    return body
  if encoding not in ('gzip', 'deflate'):
    raise RequestError(f'unsupported Content-Encoding {encoding!r}; use gzip or identity')
  # Bounded inflation: a gzip bomb stops at the limit instead of filling memory.
  inflater = zlib.decompressobj(wbits=(16 + zlib.MAX_WBITS) if encoding == 'gzip'
                                else zlib.MAX_WBITS)
  try:
    data = inflater.decompress(body, limits.max_body_bytes + 1)
  except zlib.error as e:
    raise RequestError(f'body is not valid {encoding}: {e}') from e
  if len(data) > limits.max_body_bytes or inflater.unconsumed_tail:
    raise TooLargeError(f'decompressed body over {limits.max_body_bytes} bytes')
  if not inflater.eof:
    raise RequestError(f'{encoding} body is truncated: its stream does not end')
  if inflater.unused_data:
    raise RequestError(f'{len(inflater.unused_data)} bytes after the end of the {encoding} '
                       'stream')
  return data


# Most specific first: a TooLargeError is a RequestError too.
_REFUSAL_STATUS = {TooLargeError: 413, RequestError: 400, NotFoundError: 404}


def _status_json(manager: VersionManager, version: Optional[int]) -> dict:
  statuses = [manager.status(version)] if version is not None else manager.statuses()
  return {'model_version_status': [{
      'version': str(s.version), 'state': STATE_NAMES[s.state],
      'status': {'error_code': 'UNKNOWN' if s.error else 'OK', 'error_message': s.error},
  } for s in statuses]}


def _metadata_json(manager: VersionManager, served: ServedModel) -> dict:
  signature_def = {name: json_format.MessageToDict(sig, preserving_proto_field_name=True)
                   for name, sig in served.signature_defs.items()}
  return {'model_spec': {'name': manager.model_name, 'signature_name': '',
                         'version': str(served.version)},
          'metadata': {'signature_def': {'signature_def': signature_def}}}


def create_app(models, limits: Limits = Limits(),
               observer: Optional[observability.Observer] = None) -> Starlette:
  """The REST API over `models`: a ModelSet, or one model's VersionManager."""
  observer = observer or observability.Observer()
  models = ModelSet.of(models)

  def model(match) -> VersionManager:
    return models.get(match['name'], f'Servable not found for request: Latest({match["name"]})')

  def resolve(match, request_id: str = '') -> ServedModel:
    version = int(match['version']) if match['version'] else None
    return model(match).resolve(version, match['label'], request_id)

  async def get_model(request: Request) -> Response:
    match = _PATH.match(request.path_params['rest'])
    if not match or match['verb']:
      return _error(404, 'Malformed request: GET ' + request.url.path)
    try:
      manager = models.get(match['name'], f'Could not find any versions of model {match["name"]}')
      if match['metadata']:
        return JSONResponse(_metadata_json(manager, resolve(match)))
      version = int(match['version']) if match['version'] else None
      if match['label']:
        version = resolve(match).version
      return JSONResponse(_status_json(manager, version))
    except NotFoundError as e:
      return _error(404, str(e))

  def answer(model_name: str, served: ServedModel, verb: str, raw: bytes,
             request_id: str, shadow: bool = False) -> dict:
    started = time.perf_counter()
    body = json_codec.parse_body(raw, limits.max_json_depth)
    signature = body.get('signature_name')
    if signature is not None and not isinstance(signature, str):
      raise RequestError('"signature_name" must be a string')
    if verb == 'predict':
      name = served.signature(signature)
      output_filter = json_codec.output_filter(body)
      inputs, row_format = json_codec.request_inputs(body, served.input_specs(name),
                                                     limits.max_instances)
      observer.check_inputs(served, name, inputs)
      outputs = served.predict(name, inputs, output_filter)
      result = json_codec.predict_response(outputs, row_format)
    else:
      examples = json_codec.examples_from_body(body, limits.max_instances,
                                               observer.float_features(served))
      observer.check_examples(served, examples)
      if verb == 'classify':
        result = {'results': [[[label, score] for label, score in row]
                              for row in served.classify(signature, examples)]}
      else:
        result = {'results': served.regress(signature, examples)}
    observer.log_request(model_name, served, verb, body, result, request_id,
                         seconds=time.perf_counter() - started, shadow=shadow)
    return result

  def attempt(model_name: str, served: ServedModel, verb: str, raw: bytes, request_id: str,
              shadow: bool = False) -> Tuple[Optional[dict], Optional[Tuple[type, str]]]:
    """`answer`, with a refusal returned as (kind, message) rather than raised: an exception
    carried back from the worker thread keeps the request's frames (its parsed body) in a
    reference cycle that only a full collection frees, so memory grows with every
    refused large body until one runs."""
    try:
      return answer(model_name, served, verb, raw, request_id, shadow), None
    except (TooLargeError, RequestError, NotFoundError) as e:
      kind = next(k for k in _REFUSAL_STATUS if isinstance(e, k))
      return None, (kind, str(e))

  async def post_model(request: Request) -> Response:
    start = time.perf_counter()
    match = _PATH.match(request.path_params['rest'])
    if not match or not match['verb']:
      return _error(404, 'Malformed request: POST ' + request.url.path)
    verb = match['verb']
    version = ''
    status = 200
    # Counted under the model's name when it is served (a name clients make up is no label).
    counted = match['name'] if match['name'] in models.names else ''
    # The client's X-Request-Id names the logged request (labels join on it later) and
    # routes it: the same id always reaches the same version while a canary is on trial.
    request_id = observability.request_id(request.headers.get('x-request-id'))
    try:
      served = resolve(match, request_id)
      version = str(served.version)
      raw = await read_body(request, limits)
      # Decoding, checks and the model run off the event loop: TensorFlow releases the
      # GIL, so concurrent requests use both cores and a long one blocks no other.
      if len(raw) <= INLINE_BODY_BYTES:
        result, refusal = attempt(counted, served, verb, raw, request_id)
      else:
        result, refusal = await run_in_threadpool(attempt, counted, served, verb, raw,
                                                  request_id)
      if refusal is not None:
        status = _REFUSAL_STATUS[refusal[0]]
        return _error(status, refusal[1])
      if not match['version'] and not match['label']:
        shadows.copy(model(match), counted, verb, raw, request_id)
      return Response(json_codec.dumps(result), media_type='application/json',
                      headers={'X-Request-Id': request_id, 'X-Model-Version': version})
    except TooLargeError as e:
      status = 413
      return _error(413, str(e))
    except RequestError as e:
      status = 400
      return _error(400, str(e))
    except NotFoundError as e:
      status = 404
      return _error(404, str(e))
    except ClientDisconnect:
      status = 408  # the client went away, or its body stalled past the deadline
      return _error(408, 'the request body did not arrive in time')
    except Exception as e:  # pylint: disable=broad-except
      status = 500
      logging.exception('answering POST %s failed', request.url.path)
      return _error(500, f'internal error: {type(e).__name__}')
    finally:
      if status >= 500 and version:  # the version's own failure: online validation counts it
        observer.log_failure(counted, int(version), verb, status, request_id,
                             time.perf_counter() - start)
      observer.count(counted, version, verb, str(status),
                     observability.HTTP_CODES.get(status, 'UNKNOWN'),
                     time.perf_counter() - start, 'REST')

  def answer_copies(copies) -> None:
    """A shadow's copies: predict requests of one signature and output filter in one model
    call (their rows joined), the others one by one. A copy the candidate refuses, as stable
    would have, is not logged (nothing to compare)."""
    started = time.perf_counter()
    groups, singles = {}, []
    for copied in copies:
      if copied.verb != 'predict':
        singles.append(copied)
        continue
      try:
        body = json_codec.parse_body(copied.body, limits.max_json_depth)
        name = copied.served.signature(body.get('signature_name'))
        inputs, row_format = json_codec.request_inputs(body, copied.served.input_specs(name),
                                                       limits.max_instances)
        observer.check_inputs(copied.served, name, inputs)
        kept = json_codec.output_filter(body)
      except (RequestError, NotFoundError):
        continue
      key = (copied.served.version, name, kept, tuple(sorted(
          (k, v.dtype.str, v.shape[1:]) for k, v in inputs.items())))
      groups.setdefault(key, []).append((copied, body, inputs, row_format))
    for (_, name, kept, _), members in groups.items():
      served = members[0][0].served
      sizes = [len(next(iter(inputs.values()))) for _, _, inputs, _ in members]
      outputs = served.predict(name, {k: np.concatenate([m[2][k] for m in members])
                                      for k in members[0][2]}, kept)
      seconds = time.perf_counter() - started
      offset = 0
      for (copied, body, _, row_format), size in zip(members, sizes):
        part = {k: v[offset:offset + size] for k, v in outputs.items()}
        offset += size
        observer.log_request(copied.model_name, served, 'predict', body,
                             json_codec.predict_response(part, row_format), copied.request_id,
                             seconds=seconds, shadow=True)
    for copied in singles:
      attempt(copied.model_name, copied.served, copied.verb, copied.body, copied.request_id,
              shadow=True)

  shadows = observability.ShadowCopies(answer_copies, observer)

  async def metrics(request: Request) -> Response:
    del request
    payload, content_type = observer.prometheus_payload()
    return Response(payload, media_type=content_type)

  async def internal_error(request: Request, error: Exception) -> Response:
    logging.exception('unexpected error answering %s %s', request.method, request.url.path,
                      exc_info=error)
    return _error(500, f'internal error: {type(error).__name__}')

  return Starlette(exception_handlers={Exception: internal_error}, routes=[
      Route('/v1/models/{rest:path}', get_model, methods=['GET']),
      Route('/v1/models/{rest:path}', post_model, methods=['POST']),
      Route('/monitoring/prometheus/metrics', metrics, methods=['GET']),
  ])
