"""TF Serving's `models.config`, rendered from the serving policy `ctpipe rollback` keeps.

TF Serving re-reads this file (`--model_config_file_poll_wait_seconds`), so a rollback
reaches production TF Serving as well as the local server: a pin becomes a `specific`
version policy holding only the pinned version, labelled `stable` (a second loaded
version would take every request that names no version); no pin is the `latest`
policy.
"""
from typing import Optional

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

CONFIG_FILE = 'models.config'


def render(model_name: str, base_path: str, pinned: Optional[int] = None) -> str:
  config = model_server_config_pb2.ModelServerConfig()
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
  """Writes `<serving base>/models.config` for the model at `model_base`; returns its path.

  Paths inside are as TF Serving's container sees them (`serving/docker-compose.yml`
  mounts the serving base at /models).
  """
  import os  # pylint: disable=g-import-not-at-top
  from ctpipe.model_server import versions  # pylint: disable=g-import-not-at-top
  name = os.path.basename(os.path.normpath(model_base))
  pinned = versions.read_policy(model_base).get('pinned')
  text = render(name, f'{container_root}/{name}', pinned)
  path = os.path.join(os.path.dirname(os.path.normpath(model_base)), CONFIG_FILE)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)
  return path
