"""`create_pipeline`: the pure definition of the continuous-training pipeline.

Typed arguments in, a `tfx` Pipeline out: no file I/O, no environment reads, no
network. Runners (pipeline/local_runner.py, pipeline/vertex_runner.py) decide paths,
metadata and Beam arguments. User code is referenced by dotted path, so the same
definition compiles for Vertex with no module upload.

Two things differ by orchestrator, because Vertex AI Pipelines resolves inputs only
with TFX's LatestArtifact and LatestBlessedModel strategies:
- LOCAL: each run ingests one span; the training window is assembled from the
  validated spans in ML Metadata (`pipeline.window`, SpanWindowStrategy), so no span is
  read twice.
- VERTEX: ExampleGen reads the newest `window_spans` spans in one go (TFX's rolling
  range, on Dataflow); the data gate checks the whole window, so a broken span blocks
  runs until it is fixed or removed from the bucket.
"""
import dataclasses
import enum
import json
from typing import List, Optional, Sequence

# TFX's own modules rather than `tfx.v1`: importing tfx.v1 loads its cloud extensions
# (aiplatform, BigQuery), seconds of every `ctpipe run`'s start-up.
from tfx.components import (CsvExampleGen, Evaluator, ExampleValidator, Pusher, SchemaGen,
                            StatisticsGen, Trainer, Transform, Tuner)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.orchestration.data_types import RuntimeParameter
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import (example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2, transform_pb2,
                       tuner_pb2)
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from models import features, preprocessing
from pipeline import evaluation, spans
from pipeline.components.atomic_pusher import AtomicPusherExecutor
from pipeline.in_process.csv_ingest import InProcessCsvExecutor
from pipeline.in_process.evaluator import InProcessEvaluatorExecutor
from pipeline.components.merge_window import MergeWindow
from pipeline.resolvers.drift_reference import DriftReferenceStrategy
from pipeline.resolvers.newest_artifact import NewestArtifactStrategy
from pipeline.components.data_gate import VALIDATED_EXAMPLES_KEY, DataGate
from pipeline.components.drift_check import DriftCheck
from pipeline.components.edge_export import EdgeExport
from pipeline.components.schema_review import SchemaReview
from pipeline.components.serving_check import ServingCheck
from pipeline.components.tuning.executor import TunerExecutor
from pipeline.resolvers.span_window import SpanWindowStrategy
from pipeline.in_process.statistics import InProcessStatisticsExecutor
from ctpipe.config import TUNING_CONFIG_KEY, PipelinePaths, PipelineSettings


class Orchestrator(enum.Enum):
  LOCAL = 'local'
  VERTEX = 'vertex'


# Vertex runtime parameters (JSON strings: TFX takes proto and dict properties as such);
# `ctpipe submit --param epochs=8 --param window_spans=2` fills them in.
TRAINER_CONFIG_PARAMETER = 'trainer_custom_config'
RANGE_CONFIG_PARAMETER = 'example_gen_range_config'

PREPROCESSING_FN = 'models.preprocessing.preprocessing_fn'
RUN_FN = 'models.training.run_fn'
TUNER_FN = 'models.tuning.tuner_fn'

# Node ids: stable, because caching and the training window resolve by them.
EXAMPLE_GEN = 'CsvExampleGen'
STATISTICS_GEN = 'StatisticsGen'
SCHEMA_IMPORTER = 'CuratedSchema'
SCHEMA_GEN = 'SchemaGen'
SCHEMA_REVIEW = 'SchemaReview'
EXAMPLE_VALIDATOR = 'ExampleValidator'
DATA_GATE = 'DataGate'
DRIFT_REFERENCE = 'DriftReference'
DRIFT_CHECK = 'DriftCheck'
TRAINING_STATISTICS = 'TrainingStatistics'
TRAINING_WINDOW = 'TrainingWindow'
MERGE_WINDOW = 'MergeWindow'
TRANSFORM = 'Transform'
TUNER = 'Tuner'
TUNED_HYPERPARAMETERS = 'TunedHyperparameters'
TRAINER = 'Trainer'
BASELINE_RESOLVER = 'BaselineModel'
EVALUATOR = 'Evaluator'
SERVING_CHECK = 'ServingCheck'
PUSHER = 'Pusher'
EDGE_EXPORT = 'EdgeExport'
ANALYZER_CACHE = 'AnalyzerCache'
ENDPOINT_PUSHER = 'EndpointPusher'

INGEST_NODES = (EXAMPLE_GEN, STATISTICS_GEN, SCHEMA_IMPORTER, EXAMPLE_VALIDATOR, DATA_GATE,
                DRIFT_REFERENCE, DRIFT_CHECK)


def create_pipeline(
    settings: PipelineSettings,
    paths: PipelinePaths,
    beam_pipeline_args: Sequence[str] = (),
    metadata_connection_config=None,
    span: Optional[int] = None,
    window: Sequence[int] = (),
    ingest_only: bool = False,
    enable_cache: bool = True,
    user_code_version: str = '',
    orchestrator: Orchestrator = Orchestrator.LOCAL,
    cloud=None,
    tune: bool = False,
    reuse_tuned: bool = True,
) -> Pipeline:
  """The pipeline for one span (the newest one when `span` is None).

  `cloud` (VERTEX only): a `ctpipe.config.VertexTarget`, for the optional Vertex AI
  Training and Endpoint components.

  `window` (LOCAL): the spans Transform, Trainer and Evaluator read, as
  `pipeline.window` computed them; the resolver takes exactly these (each span's newest
  validated artifact).

  With `ingest_only`, the pipeline stops after the data gate: it ingests and validates
  one span for the training window (used to backfill a window on a fresh store).

  `user_code_version` identifies the code behind the dotted paths (e.g. a hash of the
  `models` package): TFX fingerprints a `module_file` for its cache, but not a dotted
  path, so without it a changed `preprocessing_fn` or `run_fn` would be served from cache.

  `tune`: the run searches hyperparameters (TFX's Tuner, `settings.tuning`) and the
  Trainer trains with the best; otherwise the Trainer takes the newest hyperparameters a
  Tuner of this pipeline recorded in ML Metadata (none yet: the configured ones), or with
  `reuse_tuned` off the configured ones whatever was tuned.
  """
  vertex = orchestrator is Orchestrator.VERTEX
  # The data set's feature contract, for Transform's preprocessing_fn and the Trainer's run_fn.
  contract = features.FeatureContract.of(settings.dataset).to_config()
  if vertex:
    range_config = RuntimeParameter(
        name=RANGE_CONFIG_PARAMETER, ptype=str,
        default=rolling_range_json(settings.window_spans))
  else:
    range_config = (range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
        start_span_number=span, end_span_number=span)) if span is not None else None)
  # Ingests one span; hash-splits it so evaluation never sees a training row.
  example_gen = CsvExampleGen(
      input_base=paths.data_root,
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='span', pattern=spans.SPAN_PATTERN)]),
      output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
          example_gen_pb2.SplitConfig.Split(name='train', hash_buckets=settings.train_buckets),
          example_gen_pb2.SplitConfig.Split(name='eval', hash_buckets=settings.eval_buckets)])),
      range_config=range_config).with_id(EXAMPLE_GEN)
  # TFX's own steps, in this process when Beam runs locally (pipeline/in_process).
  if settings.in_process_executors:
    example_gen.executor_spec = executor_spec.BeamExecutorSpec(InProcessCsvExecutor)
  # Statistics of the new span: input to validation and to the schema review.
  statistics_gen = _statistics_gen(example_gen.outputs['examples'], STATISTICS_GEN,
                                   settings.in_process_executors)
  # The reviewed, committed schema is the contract; inference never replaces it.
  curated_schema = ImportSchemaGen(
      schema_file=paths.schema_file).with_id(SCHEMA_IMPORTER)
  example_validator = ExampleValidator(
      statistics=statistics_gen.outputs['statistics'],
      schema=curated_schema.outputs['schema']).with_id(EXAMPLE_VALIDATOR)
  # Stops the run on any anomaly, or on a CSV header that ingests wrongly (a duplicated
  # column); only clean spans reach the training window.
  data_gate = DataGate(
      examples=example_gen.outputs['examples'],
      anomalies=example_validator.outputs['anomalies'],
      input_base=paths.data_root).with_id(DATA_GATE)
  # What the newest trained model learned from (a previous run's TrainingStatistics):
  # the new span's drift is measured against it with the schema's drift comparators.
  training_statistics_channel = Channel(
      type=standard_artifacts.ExampleStatistics,
      producer_component_id=TRAINING_STATISTICS, output_key='statistics')
  if vertex:
    # Vertex's resolver queries by type alone, at the start of the run: the previous run's
    # newest statistics, i.e. its training window's (or, if it stopped at the gate, its
    # window's).
    drift_reference = Resolver(strategy_class=LatestArtifactStrategy,
                               statistics=training_statistics_channel)
  else:
    # Locally: the newest window that ends before this span (a re-run is not compared with
    # a window holding the span itself); none on a first run.
    drift_reference = Resolver(strategy_class=DriftReferenceStrategy,
                               statistics=training_statistics_channel,
                               examples=example_gen.outputs['examples'])
  drift_reference = drift_reference.with_id(DRIFT_REFERENCE)
  drift_check = DriftCheck(
      examples=example_gen.outputs['examples'],
      statistics=statistics_gen.outputs['statistics'],
      reference_statistics=drift_reference.outputs['statistics'],
      schema=curated_schema.outputs['schema']).with_id(DRIFT_CHECK)
  components: List = [example_gen, statistics_gen, curated_schema, example_validator, data_gate,
                      drift_reference, drift_check]
  if ingest_only:
    return _pipeline(settings, paths, components, beam_pipeline_args,
                     metadata_connection_config, enable_cache)

  # Inferred schema of the new span, compared with the curated one: proposals only.
  schema_gen = SchemaGen(
      statistics=statistics_gen.outputs['statistics'],
      infer_feature_shape=False).with_id(SCHEMA_GEN)
  schema_review = SchemaReview(
      curated_schema=curated_schema.outputs['schema'],
      inferred_schema=schema_gen.outputs['schema']).with_id(SCHEMA_REVIEW)
  # The training window's validated spans: what the model learns from and is judged on.
  # Reads every run's validated spans (not just this run's), hence a plain Channel
  # naming the gate plus an explicit edge so it resolves after the gate.
  window_nodes: List = []
  if vertex:
    # ExampleGen already read the whole window (rolling range), and the gate passed it.
    window = data_gate.outputs[VALIDATED_EXAMPLES_KEY]
  else:
    training_window = Resolver(
        strategy_class=SpanWindowStrategy,
        config={'spans': [int(s) for s in window]},
        examples=Channel(
            type=standard_artifacts.Examples, producer_component_id=DATA_GATE,
            output_key=VALIDATED_EXAMPLES_KEY)).with_id(TRAINING_WINDOW)
    training_window.add_upstream_node(data_gate)
    merge_window = MergeWindow(
        examples=training_window.outputs['examples']).with_id(MERGE_WINDOW)
    window = merge_window.outputs['merged_examples']
    window_nodes = [training_window, merge_window]
  # Statistics of what this run trains on: the reference for the next span's drift and
  # for training-serving skew. After DriftCheck, so that it reads the previous window's.
  training_statistics = _statistics_gen(window, TRAINING_STATISTICS,
                                        settings.in_process_executors, exclude_splits=['eval'])
  training_statistics.add_upstream_node(drift_check)
  transform_examples, analyzer_cache = window, None
  if settings.analyzer_cache and not vertex:
    # One dataset per span, so that TFT can reuse each span's analysis from the newest
    # cache; slower than the merged window at this data size (docs/performance.md).
    cache = Resolver(
        strategy_class=NewestArtifactStrategy,
        cache=Channel(type=standard_artifacts.TransformCache,
                              producer_component_id=TRANSFORM,
                              output_key='updated_analyzer_cache')).with_id(ANALYZER_CACHE)
    window_nodes.append(cache)
    transform_examples = training_window.outputs['examples']
    analyzer_cache = cache.outputs['cache']
  transform = Transform(
      examples=transform_examples,
      analyzer_cache=analyzer_cache,
      # Without the cache option nothing reads TFT's analyzer cache: writing it would
      # only cost time (the transform graph is the same).
      disable_analyzer_cache=analyzer_cache is None,
      schema=curated_schema.outputs['schema'],
      preprocessing_fn=PREPROCESSING_FN,
      splits_config=transform_pb2.SplitsConfig(analyze=['train'], transform=['train', 'eval']),
      # StatisticsGen already describes every span; Transform's own pre/post statistics
      # would run TFDV twice more on the whole window.
      disable_statistics=True,
      # The Trainer applies the Transform graph as it reads the raw window: no
      # transformed copy of the data is written (see models/training.make_dataset).
      materialize=False,
      force_tf_compat_v1=preprocessing.FORCE_TF_COMPAT_V1,
      custom_config={'user_code_version': user_code_version,
                     features.CONFIG_KEY: contract},
  ).with_id(TRANSFORM)
  # The model in production: the latest blessed one. Empty on the first run.
  baseline = Resolver(
      strategy_class=LatestBlessedModelStrategy,
      model=Channel(type=standard_artifacts.Model),
      model_blessing=Channel(type=standard_artifacts.ModelBlessing),
  ).with_id(BASELINE_RESOLVER)
  trainer_config = {'hparams': settings.hparams.to_dict(), 'user_code_version': user_code_version,
                    features.CONFIG_KEY: contract}
  tuning_nodes, hyperparameters = ([], None) if not (tune or reuse_tuned) else _tuning(
      settings, window, transform, curated_schema, trainer_config, vertex, cloud, tune)
  trainer_class = Trainer
  if vertex and cloud is not None and cloud.training.enabled:
    # On Vertex AI Training: the same run_fn in the project's image on its own machine.
    trainer_class = _vertex_trainer_class()
    trainer_config.update(vertex_training_config(cloud))
  trainer = trainer_class(
      run_fn=RUN_FN,
      # Warm start: only wired in when asked for, so a new blessed model alone does not
      # invalidate the Trainer's cache.
      base_model=baseline.outputs['model'] if settings.warm_start else None,
      examples=window,
      transform_graph=transform.outputs['transform_graph'],
      schema=curated_schema.outputs['schema'],
      hyperparameters=hyperparameters,
      train_args=trainer_pb2.TrainArgs(splits=['train']),
      eval_args=trainer_pb2.EvalArgs(splits=['eval']),
      custom_config=(RuntimeParameter(
          name=TRAINER_CONFIG_PARAMETER, ptype=str,
          default=json.dumps(trainer_config, sort_keys=True))
                     if vertex else trainer_config)).with_id(TRAINER)
  # Candidate vs baseline on the window's held-out split, overall and per slice.
  evaluator = Evaluator(
      examples=window,
      model=trainer.outputs['model'],
      baseline_model=baseline.outputs['model'],
      example_splits=['eval'],
      eval_config=evaluation.eval_config(settings.thresholds, settings.dataset)
  ).with_id(EVALUATOR)
  if settings.in_process_executors:
    evaluator.executor_spec = executor_spec.BeamExecutorSpec(InProcessEvaluatorExecutor)
  # The blessed candidate must answer real requests through the serving stack; the
  # checked copy carries TF Serving warmup requests and is what gets pushed.
  serving_check = ServingCheck(
      model=trainer.outputs['model'],
      model_blessing=evaluator.outputs['blessing'],
      examples=window,
      model_name=settings.model_name).with_id(SERVING_CHECK)
  # Only models blessed by both reach serving, atomically, as <base>/<model>/<n>/.
  pusher = Pusher(
      model_blessing=evaluator.outputs['blessing'],
      infra_blessing=serving_check.outputs['infra_blessing'],
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(
              base_directory=paths.model_base(settings.model_name))),
      custom_executor_spec=executor_spec.ExecutorClassSpec(AtomicPusherExecutor),
      # canary / shadow: the pushed version goes on trial (ctpipe/rollout); direct: none,
      # so the Pusher's cache key is what it always was.
      custom_config=({'rollout': {'strategy': settings.rollout.strategy,
                                  'canary_percent': settings.rollout.canary_percent}}
                     if settings.rollout.strategy != 'direct' else None),
  ).with_id(PUSHER)
  components += [schema_gen, schema_review, *window_nodes, training_statistics,
                 transform, *tuning_nodes, trainer, baseline, evaluator, serving_check, pusher]
  if vertex and cloud is not None and cloud.endpoint.enabled:
    # Also deployed to a Vertex AI Endpoint, under the same two blessings.
    components.append(_vertex_pusher_class()(
        model=trainer.outputs['model'],
        model_blessing=evaluator.outputs['blessing'],
        infra_blessing=serving_check.outputs['infra_blessing'],
        custom_config=vertex_endpoint_config(cloud, settings.rollout)).with_id(ENDPOINT_PUSHER))
  if settings.edge_export:
    # What was pushed, also as TFLite for devices, published only if its answers match.
    components.append(EdgeExport(
        pushed_model=pusher.outputs['pushed_model'],
        examples=window,
        edge_base=paths.edge_base(settings.model_name)).with_id(EDGE_EXPORT))
  return _pipeline(settings, paths, components, beam_pipeline_args, metadata_connection_config,
                   enable_cache)


def _tuning(settings: PipelineSettings, window, transform, curated_schema, trainer_config: dict,
            vertex: bool, cloud, tune: bool):
  """(nodes, the Trainer's hyperparameters channel): TFX's Tuner when `tune`, else a resolver
  of the newest hyperparameters this pipeline's Tuner recorded."""
  if not tune:
    channel = Channel(type=standard_artifacts.HyperParameters, producer_component_id=TUNER,
                      output_key='best_hyperparameters')
    # Vertex resolves with LatestArtifactStrategy alone (see the module docstring).
    resolver = Resolver(strategy_class=LatestArtifactStrategy if vertex else NewestArtifactStrategy,
                        hyperparameters=channel).with_id(TUNED_HYPERPARAMETERS)
    return [resolver], resolver.outputs['hyperparameters']
  tuner_config = dict(trainer_config)
  tuner_config[TUNING_CONFIG_KEY] = dataclasses.asdict(settings.tuning)
  tuner_class, tune_args = Tuner, None
  if vertex and cloud is not None:
    # Parallel trials on Vertex AI Training, each worker running the same tuner_fn.
    tuner_class = _vertex_tuner_class()
    tuner_config.update(vertex_tuning_config(cloud, settings.tuning.parallel_trials))
    tune_args = tuner_pb2.TuneArgs(num_parallel_trials=settings.tuning.parallel_trials)
  tuner = tuner_class(
      tuner_fn=TUNER_FN,
      examples=window,
      transform_graph=transform.outputs['transform_graph'],
      schema=curated_schema.outputs['schema'],
      # Trials read the training split only, holding out part of it for their validation
      # (models/tuning.py); the evaluation split stays the Evaluator's.
      train_args=trainer_pb2.TrainArgs(splits=['train']),
      eval_args=trainer_pb2.EvalArgs(splits=['train']),
      tune_args=tune_args,
      custom_config=tuner_config).with_id(TUNER)
  if not vertex:
    tuner.executor_spec = executor_spec.ExecutorClassSpec(TunerExecutor)
  return [tuner], tuner.outputs['best_hyperparameters']


def _statistics_gen(examples, node_id: str, in_process: bool, **kwargs) -> StatisticsGen:
  """TFX's StatisticsGen, computing in this process when Beam runs locally (pipeline/in_process)."""
  component = StatisticsGen(examples=examples, **kwargs).with_id(node_id)
  if in_process:
    component.executor_spec = executor_spec.BeamExecutorSpec(InProcessStatisticsExecutor)
  return component


def _pipeline(settings, paths, components, beam_pipeline_args, metadata_connection_config,
              enable_cache):
  return Pipeline(
      pipeline_name=settings.pipeline_name,
      pipeline_root=paths.pipeline_root,
      components=components,
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args))


def _vertex_trainer_class():
  from tfx.extensions.google_cloud_ai_platform.trainer.component import Trainer as VertexTrainer  # pylint: disable=g-import-not-at-top
  return VertexTrainer


def _vertex_tuner_class():
  from tfx.extensions.google_cloud_ai_platform.tuner.component import Tuner as VertexTuner  # pylint: disable=g-import-not-at-top
  return VertexTuner


def _vertex_pusher_class():
  from tfx.extensions.google_cloud_ai_platform.pusher.component import Pusher as VertexPusher  # pylint: disable=g-import-not-at-top
  return VertexPusher


def rolling_range_json(window_spans: int) -> str:
  """ExampleGen's RangeConfig reading the newest `window_spans` spans (Vertex)."""
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  return json_format.MessageToJson(
      range_config_pb2.RangeConfig(rolling_range=range_config_pb2.RollingRange(num_spans=window_spans)),
      sort_keys=True, indent=None)


def vertex_training_config(cloud) -> dict:
  """custom_config keys of TFX's Vertex AI Training Trainer."""
  from tfx.extensions.google_cloud_ai_platform import constants  # pylint: disable=g-import-not-at-top
  return {
      constants.ENABLE_VERTEX_KEY: True,
      constants.VERTEX_REGION_KEY: cloud.region,
      'ai_platform_training_args': {
          'project': cloud.project,
          'worker_pool_specs': [{
              'machine_spec': {'machine_type': cloud.training.machine_type},
              'replica_count': 1,
              'container_spec': {'image_uri': cloud.image},
          }],
          'service_account': cloud.service_account,
      },
  }


def vertex_tuning_config(cloud, parallel_trials: int) -> dict:
  """custom_config keys of TFX's Vertex Tuner extension: one Vertex AI Training job whose
  primary replica runs the chief oracle and a search loop, and `parallel_trials - 1`
  workers, each a search loop, in the project's image."""
  from tfx.extensions.google_cloud_ai_platform import constants  # pylint: disable=g-import-not-at-top
  from tfx.extensions.google_cloud_ai_platform.tuner import executor as vertex_tuner  # pylint: disable=g-import-not-at-top
  machine = {'machine_type': cloud.training.machine_type}
  container = {'image_uri': cloud.image}
  pools = [{'machine_spec': machine, 'replica_count': 1, 'container_spec': container}]
  if parallel_trials > 1:
    pools.append({'machine_spec': machine, 'replica_count': parallel_trials - 1,
                  'container_spec': container})
  return {
      constants.ENABLE_VERTEX_KEY: True,
      constants.VERTEX_REGION_KEY: cloud.region,
      vertex_tuner.TUNING_ARGS_KEY: {
          'project': cloud.project,
          'job_spec': {'worker_pool_specs': pools, 'service_account': cloud.service_account},
      },
  }


def vertex_endpoint_config(cloud, rollout=None) -> dict:
  """custom_config keys of TFX's Vertex AI Endpoint Pusher. Under a canary rollout the new
  model is deployed beside the serving one at the canary's share of the Endpoint's traffic
  (Vertex keeps the rest on the deployed models); `ctpipe rollout promote|abort --target
  vertex` then moves all traffic to it or undeploys it."""
  from tfx.extensions.google_cloud_ai_platform import constants  # pylint: disable=g-import-not-at-top
  serving_args = {
      'project_id': cloud.project,
      'endpoint_name': cloud.endpoint.endpoint_name,
      'machine_type': cloud.endpoint.machine_type,
  }
  if rollout is not None and rollout.strategy == 'canary':
    serving_args['traffic_percentage'] = int(round(rollout.canary_percent))
  return {
      constants.ENABLE_VERTEX_KEY: True,
      constants.VERTEX_REGION_KEY: cloud.region,
      constants.VERTEX_CONTAINER_IMAGE_URI_KEY: cloud.endpoint.serving_image,
      constants.SERVING_ARGS_KEY: serving_args,
  }
