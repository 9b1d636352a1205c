"""`--experiment NAME`: files a finished run under an experiment in ML Metadata.

What is compared later (`ctpipe experiments`, `ctpipe report --compare`) is read back from
the store by ctpipe/mlmd_inspect/experiments.py, from the run's own executions; the record
adds the experiment's name, the code's revision and the links to the run's model,
evaluation and hyperparameters.
"""
import json
import os
import subprocess

from ctpipe.metadata import reader as metadata, writes

# The repository the package sits in (the code whose revision a record names).
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_revision(root: str = _SOURCE_ROOT) -> str:
  """The git revision of the code ('+changes' when the tree differs from it); '' outside git."""
  try:
    head = subprocess.run(['git', '-C', root, 'rev-parse', '--short=12', 'HEAD'],
                          capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    dirty = subprocess.run(['git', '-C', root, 'status', '--porcelain', '--untracked-files=no'],
                           capture_output=True, text=True, timeout=10, check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return ''
  return head + ('+changes' if dirty else '')


def record(home, experiment: str, pipeline_name: str, executions) -> str:
  """Files the run of `executions` (one `ctpipe run`'s) under `experiment`; returns the
  run's name. Raises ValueError when the run trained nothing."""
  reader = home.reader(pipeline_name)
  last = metadata.executions_by_node(executions)
  trainer = last.get('Trainer')
  if reader is None or trainer is None or trainer.state not in ('COMPLETE', 'CACHED'):
    raise ValueError('the run trained no model: nothing to record under an experiment')
  run_name = reader.run_of(trainer.id)
  ids = [a.id for key in ('model',) for a in reader.execution_outputs(trainer.id).get(key, [])]
  ids += [a.id for a in reader.execution_inputs(trainer.id).get('hyperparameters', [])]
  evaluator = last.get('Evaluator')
  if evaluator is not None:
    outputs = reader.execution_outputs(evaluator.id)
    ids += [a.id for key in ('evaluation', 'blessing') for a in outputs.get(key, [])]
  from ctpipe.metadata.records import Records  # pylint: disable=g-import-not-at-top
  from ctpipe.mlmd_inspect import experiments as reading  # pylint: disable=g-import-not-at-top
  revision = code_revision()
  described = reading.describe(Records(reader.store), run_name)
  parameters = dict(described.parameters if described else {})
  if revision:  # as `ctpipe experiments` will show it, with the record's revision
    parameters['code_version'] = ' '.join(
        p for p in (revision, parameters.get('code_version', '')) if p)
  writes.record_experiment_run(
      home.metadata_config(), pipeline_name, experiment, run_name, ids, revision,
      parameters=json.dumps(parameters, sort_keys=True, default=str),
      metrics=json.dumps(described.metrics if described else {}, sort_keys=True))
  return run_name
