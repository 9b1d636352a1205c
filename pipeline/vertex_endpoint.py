"""A trial on a Vertex AI Endpoint: its traffic split is the canary's routing.

Under `rollout.strategy: canary` the Endpoint Pusher deploys a blessed model beside the
serving one at the canary's share (pipeline/definition.py). Promoting moves all of the
Endpoint's traffic to it (UpdateEndpoint, `traffic_split` only); aborting undeploys it and
gives stable all traffic back (UndeployModel). The requests are the API's own messages
(`google.cloud.aiplatform_v1`); with `dry_run` they are returned as JSON and nothing is
sent (no credentials needed), as `ctpipe submit --dry-run` does.
"""
from typing import Any, Dict

from ctpipe.config import VertexTarget

PROMOTE, ABORT = 'promote', 'abort'


def endpoint_name(vertex: VertexTarget, endpoint_id: str) -> str:
  return f'projects/{vertex.project}/locations/{vertex.region}/endpoints/{endpoint_id}'


def request(vertex: VertexTarget, action: str, endpoint_id: str, candidate: str,
            stable: str):
  """The request message that promotes or aborts `candidate` (deployed model ids)."""
  from google.cloud import aiplatform_v1  # pylint: disable=g-import-not-at-top
  from google.protobuf import field_mask_pb2  # pylint: disable=g-import-not-at-top
  for name, value in (('endpoint', endpoint_id), ('candidate', candidate), ('stable', stable)):
    if not str(value).isdigit():
      raise ValueError(f'the {name} id is the number Vertex gave it (`gcloud ai endpoints '
                       f'describe` lists deployed model ids), got {value!r}')
  if candidate == stable:
    raise ValueError('the candidate and the stable deployed model are the same')
  name = endpoint_name(vertex, endpoint_id)
  if action == PROMOTE:
    return aiplatform_v1.UpdateEndpointRequest(
        endpoint=aiplatform_v1.Endpoint(name=name, traffic_split={candidate: 100}),
        update_mask=field_mask_pb2.FieldMask(paths=['traffic_split']))
  if action == ABORT:
    return aiplatform_v1.UndeployModelRequest(endpoint=name, deployed_model_id=candidate,
                                              traffic_split={stable: 100})
  raise ValueError(f'action: promote or abort, got {action!r}')


def carry_out(vertex: VertexTarget, action: str, endpoint_id: str, candidate: str, stable: str,
              dry_run: bool = False) -> Dict[str, Any]:
  """Sends the request (or, dry run, only returns it): {'method', 'request'[, 'result']}."""
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  message = request(vertex, action, endpoint_id, candidate, stable)
  method = 'update_endpoint' if action == PROMOTE else 'undeploy_model'
  shown = {'method': method, 'request': json_format.MessageToDict(type(message).pb(message))}
  if dry_run:
    return shown
  from google.cloud import aiplatform_v1  # pylint: disable=g-import-not-at-top
  client = aiplatform_v1.EndpointServiceClient(
      client_options={'api_endpoint': f'{vertex.region}-aiplatform.googleapis.com'})
  result = getattr(client, method)(request=message)
  if action == ABORT:
    result = result.result()  # a long-running operation
  shown['result'] = str(result)[:2000]
  return shown
