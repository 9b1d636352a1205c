"""Keep TensorFlow's autograph out of tf_keras' own code.

TF 2.16's autograph skips modules named `keras` but not `tf_keras` (Keras 2, which
TFX 1.16 uses), so the first `fit` converts tf_keras' internals source by source: tens
of seconds of pure Python for a small model. tf_keras' code is graph-safe
already (TF's own rule skips its `keras` twin for that reason), so it is marked
do-not-convert. Our own functions are still converted as usual.
"""
from tensorflow.python.autograph.core import config as autograph_config  # pylint: disable=g-direct-tensorflow-import

_RULE = autograph_config.DoNotConvert('tf_keras')


def skip_tf_keras() -> None:
  """Idempotent: installs the do-not-convert rule for tf_keras once per process."""
  rules = autograph_config.CONVERSION_RULES
  if not any(isinstance(r, autograph_config.DoNotConvert) and getattr(r, '_prefix', None) == 'tf_keras'
             for r in rules):
    autograph_config.CONVERSION_RULES = (_RULE,) + tuple(rules)
