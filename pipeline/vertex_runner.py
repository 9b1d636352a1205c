"""The Vertex runner: the same `create_pipeline`, compiled by KubeflowV2DagRunner; Beam on Dataflow.

Compiling needs no network and no credentials: user code is referenced by dotted path
(no module upload) and every path is a gs:// URI from the config. Submitting and
scheduling are in pipeline/vertex_jobs.py.
"""
import json
import os
from typing import Dict, List, Mapping

from pipeline import definition, local_runner
from ctpipe.config import PipelinePaths, PipelineSettings
from ctpipe.config import ProjectConfig, VertexTarget, require_vertex


def dataflow_args(vertex: VertexTarget) -> List[str]:
  """Beam arguments of every Beam step: Dataflow, workers running the project's image."""
  args = [
      '--runner=DataflowRunner',
      f'--project={vertex.project}',
      f'--region={vertex.region}',
      f'--temp_location={vertex.dataflow_temp}',
      f'--machine_type={vertex.dataflow.machine_type}',
      f'--max_num_workers={vertex.dataflow.max_workers}',
      f'--disk_size_gb={vertex.dataflow.disk_size_gb}',
      f'--service_account_email={vertex.service_account}',
      # Workers run the same image as the pipeline steps, so the dotted-path user code
      # (models.preprocessing...) and the pinned stack are there (TFX's image is built
      # on Beam's SDK image).
      f'--sdk_container_image={vertex.image}',
      '--experiments=use_runner_v2',
      '--pickle_library=cloudpickle',
  ]
  if vertex.subnetwork:
    args.append(f'--subnetwork={vertex.subnetwork}')
  if not vertex.dataflow.use_public_ips:
    args.append('--no_use_public_ips')
  for key, value in vertex.labels:
    args.append(f'--labels={key}={value}')
  return args


def paths(vertex: VertexTarget) -> PipelinePaths:
  return PipelinePaths(pipeline_root=vertex.pipeline_root, data_root=vertex.data_root,
                       schema_file=vertex.schema, serving_base=vertex.serving_bucket)


def build(config: ProjectConfig, tune: bool = False):
  """The tfx Pipeline for Vertex (no metadata connection: Vertex ML Metadata is implicit);
  `tune`: with the Tuner (TFX's Vertex Tuner extension, parallel trials) before training."""
  vertex = require_vertex(config)
  return definition.create_pipeline(
      config.pipeline, paths(vertex), beam_pipeline_args=dataflow_args(vertex),
      metadata_connection_config=None, enable_cache=vertex.enable_caching,
      user_code_version=local_runner.user_code_version(),
      orchestrator=definition.Orchestrator.VERTEX, cloud=vertex, tune=tune)


def compile_spec(config: ProjectConfig, output_path: str, tune: bool = False) -> Dict:
  """Writes the PipelineJob spec (JSON) to `output_path`; returns it as a dict."""
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2  # pylint: disable=g-import-not-at-top
  vertex = require_vertex(config)
  output_path = os.path.abspath(output_path)
  runner = v2.KubeflowV2DagRunner(
      config=v2.KubeflowV2DagRunnerConfig(default_image=vertex.image),
      output_dir=os.path.dirname(output_path), output_filename=os.path.basename(output_path))
  return runner.run(build(config, tune), write_out=True)


def parameter_values(settings: PipelineSettings, friendly: Mapping[str, str],
                     user_code_version: str) -> Dict[str, str]:
  """Runtime parameter values from friendly names: epochs, window_spans, learning_rate...

  The compiled spec takes the Trainer's custom_config and ExampleGen's range config
  as JSON strings; people change numbers.
  """
  hparams = settings.hparams.to_dict()
  window = settings.window_spans
  known = sorted(set(hparams) | {'window_spans'})
  for name, text in friendly.items():
    if name == 'window_spans':
      window = _number(name, text, int)
      if window < 1:
        raise ValueError('window_spans must be >= 1')
    elif name in hparams:
      kind = type(hparams[name]) if not isinstance(hparams[name], list) else list
      hparams[name] = ([int(u) for u in text.split(',')] if kind is list
                       else _number(name, text, kind))
    else:
      raise ValueError(f'unknown parameter {name!r}; known: {known}')
  # The same checks a local run applies.
  from ctpipe.config import HParams  # pylint: disable=g-import-not-at-top
  from models import features  # pylint: disable=g-import-not-at-top
  HParams.from_dict(hparams)
  return {
      definition.TRAINER_CONFIG_PARAMETER: json.dumps(
          {'hparams': hparams, 'user_code_version': user_code_version,
           features.CONFIG_KEY: features.FeatureContract.of(settings.dataset).to_config()},
          sort_keys=True),
      definition.RANGE_CONFIG_PARAMETER: definition.rolling_range_json(window),
  }


def _number(name: str, text: str, kind):
  try:
    return kind(text)
  except ValueError as e:
    raise ValueError(f'parameter {name}: expected {kind.__name__}, got {text!r}') from e
