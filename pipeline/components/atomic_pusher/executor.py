"""Pusher executor that publishes blessed models atomically with integer versions.

TFX's filesystem Pusher copies straight into `<base>/<timestamp>/`, so TF Serving can
see a half-copied version. This executor keeps TFX's blessing checks and MLMD
properties and delegates the copy to `pipeline.publishing.publish`. Under a rollout
strategy of canary or shadow (`custom_config.rollout`), the published version goes on trial
against the version serving now instead of taking all traffic (ctpipe/rollout).
"""
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils, proto_utils

from ctpipe.model_server import serving_plan, tf_serving_config, versions
from pipeline.components.atomic_pusher import publishing

ROLLBACK_PROPERTY = 'rollback_in_effect'
TRIAL_PROPERTY = 'on_trial'  # a version published on trial (canary / shadow) says against what


def _unblessed_reason(input_dict: Dict[str, List[types.Artifact]]) -> str:
  """Which blessing withheld the push, in words."""
  reasons = []
  for key, words in ((standard_component_specs.MODEL_BLESSING_KEY,
                      'the Evaluator did not bless the candidate'),
                     (standard_component_specs.INFRA_BLESSING_KEY, 'the serving check failed')):
    for blessing in input_dict.get(key, []):
      if not blessing.get_int_custom_property('blessed'):
        reasons.append(words)
  return '; '.join(reasons) or 'not blessed'


class AtomicPusherExecutor(tfx_pusher_executor.Executor):
  """Pushes to `<push_destination.filesystem.base_directory>/<n>/` only when blessed."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    model_push = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(model_push)
      model_push.set_string_custom_property('not_pushed_reason', _unblessed_reason(input_dict))
      return
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                              destination)
    if destination.WhichOneof('destination') != 'filesystem':
      raise ValueError('AtomicPusherExecutor pushes to a filesystem destination only')
    model_path = self.GetModelPath(input_dict)
    base = destination.filesystem.base_directory
    if publishing.already_published(model_path, base) is not None:
      # A re-run re-blesses the model that is already serving: nothing new to publish.
      self._MarkNotPushed(model_push)
      model_push.set_string_custom_property('not_pushed_reason', 'already the serving version')
      return
    rollout = (json_utils.loads(exec_properties.get('custom_config') or 'null') or {}).get(
        'rollout') or {}
    strategy = rollout.get('strategy', serving_plan.DIRECT)
    next_version = (publishing.versions(base) or [0])[-1] + 1
    stable = None
    if '://' in base:
      # A serving bucket: the trial is the Vertex AI Endpoint's traffic split there
      # (`ctpipe rollout --target vertex`), not a local serving policy.
      pass
    elif strategy == serving_plan.DIRECT:
      versions.end_trial(base)
    else:
      # On trial before its folder appears: a polling server never serves it as stable.
      stable = versions.start_trial(base, next_version, strategy,
                                    float(rollout.get('canary_percent', 0.0)))
    serving_path = publishing.publish(model_path, base, next_version)
    io_utils.copy_dir(model_path, model_push.uri)  # archived copy, as TFX's Pusher does
    version = serving_path.rstrip('/').rsplit('/', 1)[-1]
    self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
    if stable is not None:
      model_push.set_string_custom_property(
          TRIAL_PROPERTY, f'{strategy} against stable v{stable}' + (
              f' at {float(rollout["canary_percent"]):g} % of traffic'
              if strategy == serving_plan.CANARY else ' (a copy of each request)'))
    tf_serving_config.write_for(base)
    pinned = versions.read_policy(base).get('pinned')
    if pinned is not None:
      # A push never silently undoes a rollback: say that the pin still holds.
      model_push.set_string_custom_property(
          ROLLBACK_PROPERTY, f'version {pinned} stays served (pinned by `ctpipe rollback`); '
          f'`ctpipe rollback --clear` serves version {version}')
