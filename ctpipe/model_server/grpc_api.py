"""TF Serving's gRPC API from the official `tensorflow-serving-api` stubs.

`tensorflow.serving.PredictionService` (Predict, Classify, Regress, GetModelMetadata)
and `tensorflow.serving.ModelService.GetModelStatus`. Bad requests answer
INVALID_ARGUMENT, requests over the limits RESOURCE_EXHAUSTED, unknown models or
versions NOT_FOUND, as TF Serving does; a failure of the server itself INTERNAL,
logged once. The port is bound exclusively (no SO_REUSEPORT): a second server on the
same port fails to start instead of silently taking half of the connections.
"""
import logging
import time
from concurrent import futures
from typing import Optional

import grpc
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2,
                                     model_service_pb2_grpc, prediction_service_pb2_grpc,
                                     status_pb2)


from ctpipe.model_server import observability, protos
from ctpipe.model_server.limits import MAX_MESSAGE_BYTES, Limits
from ctpipe.model_server.served_model import NotFoundError, RequestError, ServedModel, TooLargeError
from ctpipe.model_server.versions import ModelSet, VersionManager


class PortInUseError(OSError):
  """A port the server was asked to listen on is taken (or cannot be bound)."""


_UNDECODABLE = object()


class _DecodeErrors(grpc.ServerInterceptor):
  """Request bytes that are not the method's message answer INVALID_ARGUMENT (gRPC's own
  answer is INTERNAL, a server fault). Wrapped handlers are kept per method.

  Relies on grpcio's RpcMethodHandler being a namedtuple (`_replace`); guarded by
  tests/model_server/test_model_server_fuzz.py, which sends undecodable bytes to every method."""

  def __init__(self):
    self._wrapped = {}

  def intercept_service(self, continuation, handler_call_details):
    method = handler_call_details.method
    if method in self._wrapped:
      return self._wrapped[method]
    handler = continuation(handler_call_details)
    if handler is None or handler.request_deserializer is None or handler.unary_unary is None:
      return handler
    decode, behavior = handler.request_deserializer, handler.unary_unary

    def safe_decode(data):
      try:
        return decode(data)
      except Exception:  # pylint: disable=broad-except  # protobuf's DecodeError and kin
        return _UNDECODABLE

    def safe_behavior(request, context):
      if request is _UNDECODABLE:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f'the request is not a valid message for {method}')
      return behavior(request, context)

    self._wrapped[method] = handler._replace(request_deserializer=safe_decode,
                                             unary_unary=safe_behavior)
    return self._wrapped[method]


def _resolve(manager: VersionManager, spec: model_pb2.ModelSpec,
             request_id: str = '') -> ServedModel:
  choice = spec.WhichOneof('version_choice')
  if choice == 'version':
    return manager.resolve(version=spec.version.value)
  if choice == 'version_label':
    return manager.resolve(label=spec.version_label)
  return manager.resolve(request_id=request_id)


class _Call:
  """One call's resolved model and version, for its metrics and its log line."""

  def __init__(self, models: ModelSet, context):
    self.models = models
    self.model_name = ''  # known once resolved: a name clients make up is no metric label
    self.version = ''
    self.manager: Optional[VersionManager] = None
    self.unversioned = False
    self.started = time.perf_counter()
    self.request_id = _request_id(context)

  def resolve(self, spec: model_pb2.ModelSpec) -> ServedModel:
    manager = self.models.get(spec.name, f'Servable not found for request: Latest({spec.name})')
    self.model_name = manager.model_name
    self.manager = manager
    self.unversioned = spec.WhichOneof('version_choice') is None
    served = _resolve(manager, spec, self.request_id)
    self.version = str(served.version)
    return served

  def seconds(self) -> float:
    return time.perf_counter() - self.started


class _Calls:
  """Turns our errors into gRPC status codes and counts every call."""

  def __init__(self, models: ModelSet, observer: observability.Observer,
               limits: Limits):
    self.models = models
    self.observer = observer
    self.limits = limits

  def run(self, api: str, context, fn):
    start = time.perf_counter()
    code = grpc.StatusCode.OK
    call = _Call(self.models, context)
    try:
      return fn(call)
    except TooLargeError as e:
      code = grpc.StatusCode.RESOURCE_EXHAUSTED
      context.abort(code, str(e))
    except RequestError as e:
      code = grpc.StatusCode.INVALID_ARGUMENT
      context.abort(code, str(e))
    except NotFoundError as e:
      code = grpc.StatusCode.NOT_FOUND
      context.abort(code, str(e))
    except Exception as e:  # pylint: disable=broad-except
      code = grpc.StatusCode.INTERNAL
      logging.exception('gRPC %s failed', api)
      context.abort(code, f'internal error: {type(e).__name__}')
    finally:
      if code == grpc.StatusCode.INTERNAL and call.version:
        self.observer.log_failure(call.model_name, int(call.version), api, 500,
                                  call.request_id, call.seconds())
      self.observer.count(call.model_name, call.version, f'grpc_{api}', code.name,
                          code.name, time.perf_counter() - start, 'GRPC')


def _request_id(context) -> str:
  """The client's `x-request-id` metadata (as REST's X-Request-Id header), or a new id."""
  supplied = dict(context.invocation_metadata() or ()).get('x-request-id')
  return observability.request_id(supplied)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):

  def __init__(self, calls: _Calls):
    self._calls = calls
    self._shadows = observability.ShadowCopies(
        lambda copies: [self._shadow_answer(c.served, c.model_name, c.verb, c.body,
                                            c.request_id) for c in copies], calls.observer)

  def _copy_to_shadow(self, this: '_Call', method: str, request) -> None:
    """An unversioned request's copy for a shadow candidate (answer logged, not returned)."""
    if this.unversioned and self._calls.observer.logging:
      self._shadows.copy(this.manager, this.model_name, method, request, this.request_id)

  def _shadow_answer(self, served: ServedModel, model_name: str, method: str, request,
                     request_id: str) -> None:
    started = time.perf_counter()
    try:
      if method == 'Predict':
        inputs = protos.decode_inputs(request, self._calls.limits)
        name = served.signature(request.model_spec.signature_name or None)
        _, outputs = protos.predict(served, request, inputs)
        logged = (protos.loggable_request(name, inputs), protos.loggable_response(outputs))
        api = 'predict'
      else:
        examples = protos.serialized_examples(request.input, self._calls.limits)
        if method == 'Classify':
          response = protos.classify(served, request, examples)
          results = [[[c.label, c.score] for c in classes.classes]
                     for classes in response.result.classifications]
        else:
          results = [r.value for r in protos.regress(served, request, examples).result.regressions]
        logged = (protos.loggable_examples(examples), {'results': results})
        api = method.lower()
    except (RequestError, NotFoundError):
      return  # refused by the candidate as by stable: nothing to compare
    self._calls.observer.log_request(model_name, served, api, *logged, request_id,
                                     time.perf_counter() - started, shadow=True)

  def Predict(self, request, context):
    def call(this: _Call):
      served = this.resolve(request.model_spec)
      name = served.signature(request.model_spec.signature_name or None)
      inputs = protos.decode_inputs(request, self._calls.limits)
      self._calls.observer.check_inputs(served, name, inputs)
      response, outputs = protos.predict(served, request, inputs)
      if self._calls.observer.logging:
        self._calls.observer.log_request(
            this.model_name, served, 'predict', protos.loggable_request(name, inputs),
            protos.loggable_response(outputs), this.request_id, this.seconds())
      self._copy_to_shadow(this, 'Predict', request)
      return response
    return self._calls.run('predict', context, call)

  def Classify(self, request, context):
    def call(this: _Call):
      served = this.resolve(request.model_spec)
      examples = protos.serialized_examples(request.input, self._calls.limits)
      self._calls.observer.check_examples(served, examples)
      response = protos.classify(served, request, examples)
      if self._calls.observer.logging:
        results = [[[c.label, c.score] for c in classes.classes]
                   for classes in response.result.classifications]
        self._calls.observer.log_request(this.model_name, served, 'classify',
                                         protos.loggable_examples(examples),
                                         {'results': results}, this.request_id,
                                         this.seconds())
      self._copy_to_shadow(this, 'Classify', request)
      return response
    return self._calls.run('classify', context, call)

  def Regress(self, request, context):
    def call(this: _Call):
      served = this.resolve(request.model_spec)
      examples = protos.serialized_examples(request.input, self._calls.limits)
      self._calls.observer.check_examples(served, examples)
      response = protos.regress(served, request, examples)
      if self._calls.observer.logging:
        results = [r.value for r in response.result.regressions]
        self._calls.observer.log_request(this.model_name, served, 'regress',
                                         protos.loggable_examples(examples),
                                         {'results': results}, this.request_id,
                                         this.seconds())
      self._copy_to_shadow(this, 'Regress', request)
      return response
    return self._calls.run('regress', context, call)

  def GetModelMetadata(self, request, context):
    def call(this: _Call):
      if list(request.metadata_field) != ['signature_def']:
        raise RequestError('Metadata field(s) other than signature_def are not supported; '
                           f'got {list(request.metadata_field)}')
      served = this.resolve(request.model_spec)
      signature_map = get_model_metadata_pb2.SignatureDefMap()
      for name, signature in served.signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature)
      response = get_model_metadata_pb2.GetModelMetadataResponse()
      response.model_spec.name = this.model_name
      response.model_spec.version.value = served.version
      response.metadata['signature_def'].Pack(signature_map)
      return response
    return self._calls.run('metadata', context, call)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):

  def __init__(self, calls: _Calls):
    self._calls = calls

  def GetModelStatus(self, request, context):
    def call(this: _Call):
      name = request.model_spec.name
      manager = self._calls.models.get(name, f'Could not find any versions of model {name}')
      this.model_name = name  # a status names no single version
      choice = request.model_spec.WhichOneof('version_choice')
      if choice == 'version':
        statuses = [manager.status(request.model_spec.version.value)]
      elif choice == 'version_label':
        statuses = [manager.status(manager.resolve(
            label=request.model_spec.version_label).version)]
      else:
        statuses = manager.statuses()
      response = get_model_status_pb2.GetModelStatusResponse()
      for s in statuses:
        response.model_version_status.add(
            version=s.version, state=s.state,
            status=status_pb2.StatusProto(error_code=2 if s.error else 0,
                                          error_message=s.error))
      return response
    return self._calls.run('status', context, call)


def create_server(models, port: int,
                  observer: Optional[observability.Observer] = None,
                  host: str = '127.0.0.1', workers: int = 4,
                  limits: Limits = Limits()) -> grpc.Server:
  """A gRPC server over `models` (a ModelSet, or one model's VersionManager) bound to
  host:port (not started); PortInUseError if it cannot bind."""
  calls = _Calls(ModelSet.of(models), observer or observability.Observer(), limits)
  server = grpc.server(
      futures.ThreadPoolExecutor(max_workers=workers), interceptors=[_DecodeErrors()],
      options=[('grpc.max_receive_message_length', MAX_MESSAGE_BYTES),
               ('grpc.max_send_message_length', MAX_MESSAGE_BYTES),
               ('grpc.so_reuseport', 0)])
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      PredictionService(calls), server)
  model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(calls), server)
  try:
    bound = server.add_insecure_port(f'{host}:{port}')
  except RuntimeError:  # grpcio raises where older versions returned 0
    bound = 0
  if bound == 0:
    raise PortInUseError(f'cannot listen for gRPC on {host}:{port}: the port is in use '
                         '(or the address is not this machine\'s)')
  server.bound_port = bound  # the real port when 0 was asked for
  return server
