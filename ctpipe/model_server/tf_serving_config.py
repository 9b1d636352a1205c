"""TF Serving's `models.config`, rendered from the serving policy `ctpipe rollback` keeps.

TF Serving re-reads this file (`--model_config_file_poll_wait_seconds`), so a rollback
reaches production TF Serving as well as the local server: a pin becomes a `specific`
version policy holding only the pinned version, labelled `stable` (a second loaded
version would take every request that names no version); no pin is the `latest`
policy. Every model pushed under one serving base is listed (one home may hold several
data sets, each its own model), each with its own policy.
"""
from typing import Optional, Sequence, Tuple

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

CONFIG_FILE = 'models.config'


def render(model_name: str, base_path: str, pinned: Optional[int] = None) -> str:
  """The config of one model."""
  return render_all([(model_name, base_path, pinned)])


def render_all(models: Sequence[Tuple[str, str, Optional[int]]]) -> str:
  """The config of several models: (name, base path, pinned version or None) each."""
  config = model_server_config_pb2.ModelServerConfig()
  for model_name, base_path, pinned in models:
    model = config.model_config_list.config.add(name=model_name, base_path=base_path,
                                                model_platform='tensorflow')
    if pinned is None:
      model.model_version_policy.latest.num_versions = 1
    else:
      model.model_version_policy.specific.versions.append(pinned)
      model.version_labels['stable'] = pinned
  return ('# Written by ctpipe (rollback / push); TF Serving re-reads it. Do not edit by hand.\n'
          + text_format.MessageToString(config))


def write_for(model_base: str, container_root: str = '/models') -> str:
  """Writes `<serving base>/models.config` after a change to the model at `model_base`:
  every model pushed under that serving base, with its policy. Returns its path.

  Paths inside are as TF Serving's container sees them (`serving/docker-compose.yml`
  mounts the serving base at /models).
  """
  import os  # pylint: disable=g-import-not-at-top
  from ctpipe.model_server import versions  # pylint: disable=g-import-not-at-top
  serving_base = os.path.dirname(os.path.normpath(model_base))
  bases = versions.model_bases(serving_base)
  bases.setdefault(os.path.basename(os.path.normpath(model_base)), model_base)
  text = render_all([(name, f'{container_root}/{name}', versions.read_policy(base).get('pinned'))
                     for name, base in sorted(bases.items())])
  path = os.path.join(serving_base, CONFIG_FILE)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)
  return path
