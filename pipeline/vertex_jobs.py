"""`ctpipe submit` and `ctpipe schedule`: a compiled spec to Vertex AI Pipelines.

Both go through google-cloud-aiplatform's own `PipelineJob` and `PipelineJobSchedule`,
so the request is the SDK's. With `dry_run`, the SDK's API client is swapped for a
recorder at the last step: the exact request is captured and printed, nothing is sent,
and no credentials are needed.
"""
import contextlib
import dataclasses
import json
from typing import Any, Dict, Iterator, List, Mapping, Optional

from ctpipe.config import VertexTarget


@dataclasses.dataclass
class RecordedCall:
  method: str  # 'create_pipeline_job' | 'create_schedule'
  request: Dict[str, Any]  # the request message, as JSON


class RecordingClient:
  """Stands in for the Vertex API client: records each create call, sends nothing."""

  def __init__(self):
    self.calls: List[RecordedCall] = []

  @staticmethod
  def _json(message) -> Dict[str, Any]:
    from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
    proto = type(message).pb(message) if hasattr(type(message), 'pb') else message
    return json_format.MessageToDict(proto)

  def create_pipeline_job(self, parent, pipeline_job, pipeline_job_id=None, timeout=None):
    del timeout
    self.calls.append(RecordedCall('create_pipeline_job', {
        'parent': parent, 'pipelineJobId': pipeline_job_id or '',
        'pipelineJob': self._json(pipeline_job)}))
    return self._created(pipeline_job, f'{parent}/pipelineJobs/{pipeline_job_id or "dry-run"}')

  def create_schedule(self, parent, schedule, timeout=None):
    del timeout
    self.calls.append(RecordedCall('create_schedule', {
        'parent': parent, 'schedule': self._json(schedule)}))
    return self._created(schedule, f'{parent}/schedules/dry-run')

  @staticmethod
  def _created(message, name: str):
    """What the API would answer: the resource, now with a name (the SDK logs it)."""
    created = type(message).deserialize(type(message).serialize(message))
    created.name = name
    return created


def _credentials(dry_run: bool):
  if not dry_run:
    return None  # Application Default Credentials
  from google.auth import credentials as auth_credentials  # pylint: disable=g-import-not-at-top
  return auth_credentials.AnonymousCredentials()


def make_job(vertex: VertexTarget, spec_path: str, display_name: str,
             parameter_values: Mapping[str, Any], enable_caching: Optional[bool],
             labels: Mapping[str, str], dry_run: bool, job_id: Optional[str] = None):
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  return aiplatform.PipelineJob(
      display_name=display_name, template_path=spec_path, job_id=job_id,
      pipeline_root=vertex.pipeline_root, parameter_values=dict(parameter_values),
      enable_caching=vertex.enable_caching if enable_caching is None else enable_caching,
      labels={**dict(vertex.labels), **dict(labels)}, project=vertex.project,
      location=vertex.region, credentials=_credentials(dry_run))


@contextlib.contextmanager
def _recording(resource, dry_run: bool) -> Iterator[Optional[RecordingClient]]:
  """Swaps the resource's API client for a recorder when `dry_run`."""
  if not dry_run:
    yield None
    return
  from google.cloud.aiplatform.utils import gcs_utils  # pylint: disable=g-import-not-at-top
  recorder = RecordingClient()
  resource.api_client = recorder
  # submit() first makes sure the pipeline root's bucket exists: a Cloud Storage call.
  original = gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist
  gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist = (
      lambda *args, **kwargs: None)
  try:
    yield recorder
  finally:
    gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist = original


def submit(vertex: VertexTarget, spec_path: str, display_name: str,
           parameter_values: Mapping[str, Any], enable_caching: Optional[bool] = None,
           labels: Mapping[str, str] = (), dry_run: bool = False,
           job_id: Optional[str] = None) -> Dict[str, Any]:
  """Submits one run; returns the request (dry run) or the created job's name."""
  job = make_job(vertex, spec_path, display_name, parameter_values, enable_caching,
                 dict(labels), dry_run, job_id)
  with _recording(job, dry_run) as recorder:
    job.submit(service_account=vertex.service_account, network=vertex.network or None)
  if recorder is not None:
    return recorder.calls[-1].request
  return {'name': job.resource_name}


def schedule(vertex: VertexTarget, spec_path: str, display_name: str, cron: str,
             parameter_values: Mapping[str, Any], enable_caching: Optional[bool] = None,
             labels: Mapping[str, str] = (), max_concurrent_runs: int = 1,
             dry_run: bool = False) -> Dict[str, Any]:
  """Creates a Vertex pipeline schedule (UTC cron, or with a CRON_TZ= prefix)."""
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  job = make_job(vertex, spec_path, display_name, parameter_values, enable_caching,
                 dict(labels), dry_run)
  pipeline_schedule = aiplatform.PipelineJobSchedule(
      pipeline_job=job, display_name=f'{display_name}-schedule', project=vertex.project,
      location=vertex.region, credentials=_credentials(dry_run))
  with _recording(pipeline_schedule, dry_run) as recorder:
    pipeline_schedule.create(cron=cron, max_concurrent_run_count=max_concurrent_runs,
                             service_account=vertex.service_account,
                             network=vertex.network or None)
  if recorder is not None:
    return recorder.calls[-1].request
  return {'name': pipeline_schedule.resource_name}


def pretty(request: Mapping[str, Any]) -> str:
  """The request as printed by --dry-run (the spec body elided to its size)."""
  shown = json.loads(json.dumps(request))
  job = shown.get('pipelineJob') or shown.get('schedule', {}).get(
      'createPipelineJobRequest', {}).get('pipelineJob')
  if job and 'pipelineSpec' in job:
    size = len(json.dumps(job['pipelineSpec']))
    tasks = sorted(job['pipelineSpec'].get('root', {}).get('dag', {}).get('tasks', {}))
    job['pipelineSpec'] = f'<compiled spec: {size} bytes, {len(tasks)} tasks: {", ".join(tasks)}>'
  return json.dumps(shown, indent=2, sort_keys=True)
