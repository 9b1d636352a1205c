"""Benchmark: `ctpipe inspect` on a metadata store holding 1,000 pipeline runs.

Builds the store by replaying the newest full run of a real ctpipe store (its
executions, artifacts, events and contexts, with the same types and properties)
N times through ML Metadata's API, each copy as a new `pipeline_run` whose
executions read the previous copy's artifacts where the original read older ones.
Then times the inspect commands as a user runs them (a new process each, so
Python start-up counts) and prints the figures. Goal: `inspect runs` <= 1 s.

    .venv/bin/python bench/inspect_big_store.py [--source .ctpipe/metadata.db] [--runs 1000]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ml_metadata.proto import metadata_store_pb2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from ctpipe.metadata.connection import connect, sqlite_config  # pylint: disable=wrong-import-position

_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


def build(source: str, target: str, runs: int) -> float:
  """Copies `source` to `target`, then adds `runs` replicas of its newest full run."""
  shutil.copyfile(source, target)
  store = connect(sqlite_config(target, read_only=False))
  run_contexts = store.get_contexts_by_type('pipeline_run')
  # The newest run with the most executions: a full training run, not a backfill.
  template = max(run_contexts[-3:], key=lambda c: len(store.get_executions_by_context(c.id)))
  executions = sorted(store.get_executions_by_context(template.id), key=lambda e: e.id)
  events = store.get_events_by_execution_ids([e.id for e in executions])
  artifacts = {a.id: a for a in store.get_artifacts_by_id(list({e.artifact_id for e in events}))}
  contexts = {e.id: [c for c in store.get_contexts_by_execution(e.id) if c.type != 'pipeline_run']
              for e in executions}
  started = time.time()
  for i in range(runs):
    run = metadata_store_pb2.Context(type_id=template.type_id, name=f'bench-run-{i:05d}')
    run.custom_properties['reason'].string_value = 'bench replay'
    [run.id] = store.put_contexts([run])
    produced = {}  # template artifact id -> this replica's artifact
    for execution in executions:
      copy = metadata_store_pb2.Execution()
      copy.CopyFrom(execution)
      copy.ClearField('id')
      copy.ClearField('name')
      copy.ClearField('create_time_since_epoch')
      copy.ClearField('last_update_time_since_epoch')
      pairs, sources = [], []
      for event in (e for e in events if e.execution_id == execution.id):
        is_output = event.type in _OUTPUTS
        new_event = metadata_store_pb2.Event(type=event.type, path=event.path)
        if event.artifact_id in produced:  # made earlier in this replica
          artifact = produced[event.artifact_id]
        elif is_output:
          artifact = metadata_store_pb2.Artifact()
          artifact.CopyFrom(artifacts[event.artifact_id])
          for field in ('id', 'create_time_since_epoch', 'last_update_time_since_epoch'):
            artifact.ClearField(field)
          artifact.uri = f'{artifact.uri}-bench{i}'
        else:  # read from before the template run: the same artifact
          artifact = artifacts[event.artifact_id]
        pairs.append((artifact, new_event))
        sources.append(event.artifact_id if is_output else None)
      _, artifact_ids, _ = store.put_execution(
          copy, pairs, contexts[execution.id] + [run], reuse_context_if_already_exist=True)
      for (artifact, _), source, new_id in zip(pairs, sources, artifact_ids):
        if source is not None and source not in produced:
          artifact.id = new_id
          produced[source] = artifact
  return time.time() - started


def timed(args) -> float:
  start = time.time()
  proc = subprocess.run(args, capture_output=True, text=True)
  seconds = time.time() - start
  if proc.returncode != 0:
    raise RuntimeError(f'{" ".join(args)} failed: {proc.stderr[-2000:]}')
  return seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--source', default=os.path.join(REPO, '.ctpipe', 'metadata.db'))
  parser.add_argument('--runs', type=int, default=1000)
  parser.add_argument('--keep', default=None, help='write the big store here and keep it')
  args = parser.parse_args()
  if not os.path.exists(args.source):
    sys.exit(f'{args.source} not found: run `make run` first (or pass --source)')
  work = tempfile.mkdtemp(prefix='ctpipe-inspect-bench-')
  target = args.keep or os.path.join(work, 'metadata.db')
  build_seconds = build(args.source, target, args.runs)
  store = connect(sqlite_config(target, read_only=True))
  print(f'store: {target}: {len(store.get_contexts_by_type("pipeline_run"))} runs, '
        f'{len(store.get_executions())} executions, {len(store.get_artifacts())} artifacts, '
        f'{os.path.getsize(target) / 1e6:.1f} MB (built in {build_seconds:.0f} s)')
  ctpipe = os.path.join(os.path.dirname(sys.executable), 'ctpipe')
  base = [ctpipe, 'inspect']
  newest_model = str(max(a.id for a in store.get_artifacts_by_type('Model')))
  commands = {
      'inspect runs': base + ['runs', '--db', target],
      'inspect runs --json': base + ['runs', '--db', target, '--json'],
      'inspect runs --offset 900': base + ['runs', '--db', target, '--offset', '900'],
      'inspect artifacts --type Model': base + ['artifacts', '--db', target, '--type', 'Model'],
      'inspect executions --run <a middle run>': base + [
          'executions', '--db', target, '--run', f'bench-run-{args.runs // 2:05d}'],
      'inspect lineage <the newest model>': base + ['lineage', '--db', target, newest_model],
      'python start-up + click (ctpipe --help)': [ctpipe, '--help'],
  }
  for name, command in commands.items():
    best = min(timed(command) for _ in range(3))
    print(f'{name:<45} {best:6.2f} s (best of 3, whole process)')
  if not args.keep:
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
  main()
