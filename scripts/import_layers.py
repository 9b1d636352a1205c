"""The import graph of ctpipe's code, checked against its layers: prints every upward arrow.

  .venv/bin/python scripts/import_layers.py [--root DIR] [--layout current|before]

Layers, lowest first (a module may import its own layer and the ones below):
  0 foundation   ctpipe.config, ctpipe.home, ctpipe.metadata, ctpipe.tfma_results,
                 ctpipe.tuning_results, ctpipe.console_logs, ctpipe.import_gc, ctpipe.notify
  1 model, serving   models, ctpipe.model_server
  2 pipeline     pipeline
  3 operations   ctpipe.continuous, ctpipe.mlmd_inspect, ctpipe.datasets (init),
                 ctpipe.rollout (online validation), ctpipe.notices, ctpipe.experiments
  4 command line ctpipe.commands, ctpipe.cli
Besides: `ctpipe.mlmd_inspect` reads any TFX store, so it imports nothing of the pipeline,
the model or the continuous loop; `ctpipe.model_server` stands on its own (nothing but
itself). Every import counts, module-level or inside a function.

`--layout before` maps the tree as it was before the restructuring (issue 18: the
packages `pipeline`, `models`, `model_server`, `mlmd_inspect`, `continuous` at the
top, the command line inside `pipeline`), to measure the same rules on it.
Exit status 1 when an arrow goes the wrong way.
"""
import argparse
import ast
import os
import sys
from typing import Dict, Iterator, List, Tuple

CURRENT = [  # (module prefix, layer); the longest matching prefix wins
    ('ctpipe', 0), ('ctpipe.config', 0), ('ctpipe.home', 0), ('ctpipe.metadata', 0),
    ('ctpipe.console_logs', 0), ('ctpipe.import_gc', 0), ('ctpipe.tfma_results', 0),
    ('ctpipe.tuning_results', 0),
    ('models', 1), ('ctpipe.model_server', 1),
    ('pipeline', 2),
    ('ctpipe.continuous', 3), ('ctpipe.mlmd_inspect', 3), ('ctpipe.datasets', 3),
    ('ctpipe.rollout', 3), ('ctpipe.notices', 3), ('ctpipe.experiments', 3),
    ('ctpipe.commands', 4), ('ctpipe.cli', 4),
]
BEFORE = [('models', 1), ('model_server', 1), ('pipeline', 2), ('continuous', 3),
          ('mlmd_inspect', 3)]
# (importer prefix, imported prefix): never, whatever the layers say.
FORBIDDEN = {
    'current': [('ctpipe.mlmd_inspect', p) for p in ('pipeline', 'models', 'ctpipe.continuous')]
               + [('ctpipe.model_server', p) for p in ('pipeline', 'models', 'ctpipe.config',
                                                        'ctpipe.home', 'ctpipe.metadata',
                                                        'ctpipe.continuous',
                                                        'ctpipe.mlmd_inspect')],
    'before': [('mlmd_inspect', p) for p in ('pipeline', 'models', 'continuous')]
              + [('model_server', p) for p in ('pipeline', 'models', 'continuous',
                                               'mlmd_inspect')],
}
PACKAGES = {'current': ('ctpipe', 'pipeline', 'models'),
            'before': ('pipeline', 'models', 'model_server', 'mlmd_inspect', 'continuous')}


def _matches(module: str, prefix: str) -> bool:
  return module == prefix or module.startswith(prefix + '.')


def layer_of(module: str, layers: List[Tuple[str, int]]):
  found = [(len(p), layer) for p, layer in layers if _matches(module, p)]
  return max(found)[1] if found else None


def modules(root: str, packages) -> Dict[str, str]:
  """Module name -> file, for every .py file of the packages under `root`."""
  found = {}
  for package in packages:
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, package)):
      dirnames[:] = [d for d in dirnames if d != '__pycache__']
      for name in filenames:
        if name.endswith('.py'):
          path = os.path.join(dirpath, name)
          parts = os.path.relpath(path, root)[:-3].split(os.sep)
          if parts[-1] == '__init__':
            parts = parts[:-1]
          found['.'.join(parts)] = path
  return found


def imports(path: str, module: str) -> Iterator[Tuple[int, str]]:
  """(line, imported module) for every import in the file, relative ones resolved."""
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read(), path)
  package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parts = package.split('.')
        base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
      for alias in node.names:  # `from a import b` may import the module a.b
        yield node.lineno, f'{base}.{alias.name}' if alias.name != '*' else base


def upward_arrows(root: str, layout: str = 'current') -> List[str]:
  layers = CURRENT if layout == 'current' else BEFORE
  forbidden = FORBIDDEN[layout]
  found = modules(root, PACKAGES[layout])
  arrows = []
  for module, path in sorted(found.items()):
    mine = layer_of(module, layers)
    for line, target in imports(path, module):
      if target not in found and target.rpartition('.')[0] in found:
        target = target.rpartition('.')[0]  # `from module import name`
      theirs = layer_of(target, layers)
      if theirs is None or mine is None:
        continue  # not ours: the standard library, TFX, ...
      where = f'{os.path.relpath(path, root)}:{line}'
      if theirs > mine:
        arrows.append(f'{where}: {module} (layer {mine}) imports {target} (layer {theirs})')
      elif any(_matches(module, a) and _matches(target, b) for a, b in forbidden):
        arrows.append(f'{where}: {module} imports {target}, which it must not know')
  return sorted(set(arrows))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  parser.add_argument('--layout', choices=['current', 'before'], default='current')
  args = parser.parse_args()
  arrows = upward_arrows(args.root, args.layout)
  for arrow in arrows:
    print(arrow)
  print(f'{len(arrows)} upward or forbidden import(s) in {args.root}')
  sys.exit(1 if arrows else 0)


if __name__ == '__main__':
  main()
