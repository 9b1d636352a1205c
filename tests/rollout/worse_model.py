"""A real SavedModel that is worse than a given one: it answers through the original's own
signatures and inverts them (probability p becomes 1 − p, the class flips), so its live AUC
is one minus the original's. Served like any version; tests use it as the bad candidate."""
import os
import shutil

import tensorflow as tf

_SIGNATURES = ('serving_default', 'serving_raw')


class _Inverted(tf.Module):

  def __init__(self, original):
    super().__init__()
    self.original = original


def _inverted(function):
  def call(**inputs):
    outputs = dict(function(**inputs))
    outputs['probability'] = 1.0 - outputs['probability']
    for name, value in outputs.items():
      if name != 'probability':
        outputs[name] = tf.cast(1 - tf.cast(value, tf.int64), value.dtype)
    return outputs
  return call


def write_inverted(model_dir: str, destination: str) -> str:
  """Writes the inverted model of `model_dir` to `destination` (a version folder)."""
  original = tf.saved_model.load(model_dir)
  module = _Inverted(original)
  signatures = {}
  for name in _SIGNATURES:
    function = original.signatures[name]
    spec = function.structured_input_signature[1]
    signatures[name] = tf.function(_inverted(function), input_signature=None).get_concrete_function(
        **spec)
  staging = destination + '.staging'
  tf.saved_model.save(module, staging, signatures=signatures)
  extra = os.path.join(model_dir, 'assets.extra', 'schema.pbtxt')
  if os.path.exists(extra):  # the same request checks as the original; no warmup records
    os.makedirs(os.path.join(staging, 'assets.extra'), exist_ok=True)
    shutil.copy(extra, os.path.join(staging, 'assets.extra', 'schema.pbtxt'))
  os.rename(staging, destination)
  return destination
