"""The Pusher under a rollout strategy: a blessed version published as canary goes on trial
against the version serving (stable keeps every request until a decision; TF Serving's
models.config labels both), and a direct push ends any trial. The real executor, on real
TFX artifacts and SavedModels."""
import json
import os

import tensorflow as tf
from tfx.types import standard_artifacts

from ctpipe.model_server import versions
from pipeline.components.atomic_pusher import AtomicPusherExecutor
from pipeline.components.atomic_pusher.executor import TRIAL_PROPERTY


def _saved_model(path: str, value: float) -> None:
  module = tf.Module()
  module.value = tf.Variable(value)
  module.serve = tf.function(lambda x: {'y': x * module.value},
                             input_signature=[tf.TensorSpec([None], tf.float32)])
  tf.saved_model.save(module, path, signatures={'serving_default': module.serve})


def _push(tmp_path, base, name, value, rollout=None):
  infra = standard_artifacts.InfraBlessing()
  infra.uri = str(tmp_path / name / 'infra')
  _saved_model(os.path.join(infra.uri, 'stamped_model'), value)
  infra.set_int_custom_property('blessed', 1)
  infra.set_int_custom_property('has_model', 1)
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / name / 'blessing')
  blessing.set_int_custom_property('blessed', 1)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / name / 'pushed')
  exec_properties = {'push_destination': json.dumps({'filesystem': {'base_directory': base}}),
                     'custom_config': json.dumps({'rollout': rollout} if rollout else None)}
  AtomicPusherExecutor().Do({'infra_blessing': [infra], 'model_blessing': [blessing]},
                            {'pushed_model': [pushed]}, exec_properties)
  return pushed


def test_a_canary_push_goes_on_trial_and_a_direct_push_ends_it(tmp_path):
  base = str(tmp_path / 'serving' / 'm')
  first = _push(tmp_path, base, 'first', 1.0, {'strategy': 'canary', 'canary_percent': 20})
  # Nothing served yet: the first version simply serves, nothing to compare it with.
  assert versions.plan(base).stable == 1 and versions.plan(base).candidate is None
  assert not first.has_custom_property(TRIAL_PROPERTY)
  second = _push(tmp_path, base, 'second', 2.0, {'strategy': 'canary', 'canary_percent': 20})
  plan = versions.plan(base)
  assert (plan.stable, plan.candidate, plan.strategy, plan.percent) == (1, 2, 'canary', 20.0)
  assert second.get_string_custom_property('pushed_version') == '2'
  assert second.get_string_custom_property(TRIAL_PROPERTY) == (
      'canary against stable v1 at 20 % of traffic')
  with open(os.path.join(os.path.dirname(base), 'models.config')) as f:
    config = f.read()
  assert 'specific' in config and 'versions: 1' in config and 'versions: 2' in config
  assert 'key: "stable"' in config and 'key: "canary"' in config
  _push(tmp_path, base, 'third', 3.0)  # direct
  assert versions.plan(base) == versions.serving_plan.Plan(3)
  assert 'trial' not in versions.read_policy(base)
  with open(os.path.join(os.path.dirname(base), 'models.config')) as f:
    assert 'latest' in f.read()
