"""The layers hold: the command line on top, no module imports a layer above its own, inspect
knows nothing of the pipeline, the model server stands alone (scripts/import_layers.py)."""
import importlib.util
import os

from tests.conftest import REPO

_SPEC = importlib.util.spec_from_file_location(
    'import_layers', os.path.join(REPO, 'scripts', 'import_layers.py'))
import_layers = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(import_layers)


def test_no_module_imports_upward():
  assert import_layers.upward_arrows(REPO) == []


def test_the_check_finds_an_upward_and_a_forbidden_import(tmp_path):
  for package, text in (('ctpipe/__init__.py', ''), ('ctpipe/config.py', 'import pipeline\n'),
                        ('ctpipe/mlmd_inspect/__init__.py', ''),
                        ('ctpipe/mlmd_inspect/runs.py', 'from models import features\n'),
                        ('pipeline/__init__.py', ''), ('models/__init__.py', ''),
                        ('models/features.py', ''),
                        ('pipeline/definition.py', 'from ctpipe.commands import run\n')):
    path = tmp_path / package
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
  arrows = import_layers.upward_arrows(str(tmp_path))
  assert len(arrows) == 3, arrows
  assert any('ctpipe.config (layer 0) imports pipeline (layer 2)' in a for a in arrows)
  assert any('ctpipe.mlmd_inspect.runs imports models.features, which it must not' in a
             for a in arrows)
  assert any('pipeline.definition (layer 2) imports ctpipe.commands' in a for a in arrows)


def test_no_module_outside_the_metadata_client_constructs_a_store():
  offenders = []
  for package in ('ctpipe', 'pipeline', 'models'):
    for dirpath, _, filenames in os.walk(os.path.join(REPO, package)):
      for name in filenames:
        path = os.path.join(dirpath, name)
        if name.endswith('.py') and os.sep + os.path.join('ctpipe', 'metadata') not in path:
          with open(path, encoding='utf-8') as f:
            if 'MetadataStore(' in f.read():
              offenders.append(os.path.relpath(path, REPO))
  assert offenders == []


def test_no_module_outside_the_data_sets_definition_names_its_columns():
  """The taxi data set's columns appear in config/ctpipe.yaml and its label function only."""
  import re  # pylint: disable=g-import-not-at-top
  from tests.conftest import PROJECT  # pylint: disable=g-import-not-at-top
  dataset = PROJECT.dataset
  names = set(dataset.features.model_inputs) | set(dataset.features.unused) | {
      dataset.label, dataset.time_column, *dataset.label_sources, *dataset.slices}
  allowed = {os.path.join(REPO, 'models', 'taxi.py')}
  found = []
  for package in ('ctpipe', 'pipeline', 'models'):
    for dirpath, _, filenames in os.walk(os.path.join(REPO, package)):
      for name in filenames:
        path = os.path.join(dirpath, name)
        if not name.endswith('.py') or path in allowed:
          continue
        with open(path, encoding='utf-8') as f:
          text = f.read()
        for column in names:
          if re.search(r"""['"]%s['"]""" % re.escape(column), text):
            found.append(f'{os.path.relpath(path, REPO)}: {column}')
  assert found == []
