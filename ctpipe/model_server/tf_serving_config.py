"""TF Serving's `models.config`, rendered from the serving policy `ctpipe rollback` keeps.

TF Serving re-reads this file (`--model_config_file_poll_wait_seconds`), so a rollback
reaches production TF Serving as well as the local server: a pin becomes a `specific`
version policy holding only the pinned version, labelled `stable` (a second loaded
version would take every request that names no version); a candidate on trial is a
`specific` policy with both versions, labelled `stable` and `canary` (or `shadow`); no
pin and no trial is the `latest` policy. Every model pushed under one serving base is listed (one home may hold several
data sets, each its own model), each with its own policy.
"""
from typing import Optional, Sequence, Tuple

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from ctpipe.model_server import serving_plan

CONFIG_FILE = 'models.config'


def render_all(models: Sequence[Tuple[str, str, serving_plan.Plan]],
               newest: Optional[dict] = None) -> str:
  """The config of several models: (name, base path, plan) each. `newest`: model name ->
  its newest version on disk (a plan whose stable is the newest, with nothing on trial, is
  TF Serving's `latest` policy)."""
  config = model_server_config_pb2.ModelServerConfig()
  newest = newest or {}
  for model_name, base_path, plan in models:
    model = config.model_config_list.config.add(name=model_name, base_path=base_path,
                                                model_platform='tensorflow')
    if plan.stable is None or (not plan.pinned and plan.candidate is None
                               and plan.stable == newest.get(model_name, plan.stable)):
      model.model_version_policy.latest.num_versions = 1
      continue
    # A pin, a rejected newer version or a trial: exactly these versions, labelled. TF
    # Serving sends a request naming no version to the highest loaded one, so with a
    # candidate on trial the router in front names the label (serving/README.md).
    model.model_version_policy.specific.versions.extend(plan.versions)
    for label, version in plan.labels.items():
      model.version_labels[label] = version
  return ('# Written by ctpipe (rollback / push / rollout); TF Serving re-reads it. '
          'Do not edit by hand.\n' + text_format.MessageToString(config))


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
  text = render_all([(name, f'{container_root}/{name}', versions.plan(base))
                     for name, base in sorted(bases.items())],
                    {name: (versions.list_versions(base) or [None])[-1]
                     for name, base in bases.items()})
  path = os.path.join(serving_base, CONFIG_FILE)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)
  return path
