"""Where the Trainer's hyperparameters come from, in the pipeline's shape (no run)."""
import json

from ctpipe.config import PipelinePaths
from pipeline import definition
from tests.conftest import SETTINGS

PATHS = PipelinePaths(pipeline_root='/tmp/root', data_root='/tmp/data',
                      schema_file='/tmp/schema.pbtxt', serving_base='/tmp/serving')


def _nodes(**kwargs):
  pipeline = definition.create_pipeline(SETTINGS, PATHS, span=2, window=[1, 2], **kwargs)
  return {c.id: c for c in pipeline.components}


def test_a_search_feeds_the_trainer_and_reads_the_training_split_only():
  nodes = _nodes(tune=True)
  tuner, trainer = nodes[definition.TUNER], nodes[definition.TRAINER]
  assert definition.TUNED_HYPERPARAMETERS not in nodes
  assert trainer.inputs['hyperparameters'] is tuner.outputs['best_hyperparameters']
  # TFX keeps the protos as JSON in the execution properties.
  assert json.loads(tuner.exec_properties['train_args'])['splits'] == ['train']
  assert json.loads(tuner.exec_properties['eval_args'])['splits'] == ['train']  # not eval
  assert tuner.inputs['examples'] is trainer.inputs['examples']  # the same window


def test_without_a_search_the_trainer_resolves_the_newest_tuned_ones_or_none():
  nodes = _nodes()
  resolver = nodes[definition.TUNED_HYPERPARAMETERS]
  assert definition.TUNER not in nodes
  assert nodes[definition.TRAINER].inputs['hyperparameters'] is resolver.outputs['hyperparameters']
  configured = _nodes(reuse_tuned=False)
  assert definition.TUNER not in configured and definition.TUNED_HYPERPARAMETERS not in configured
  assert 'hyperparameters' not in configured[definition.TRAINER].inputs
