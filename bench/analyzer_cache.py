"""Transform with TFT's analyzer cache (one dataset per span) against the merged window.

For each mode, on a fresh home over the embedded data: a run whose window ends at span
N-1, then the run for span N (the window gains a span). Prints Transform's wall time in
both runs; in the cache mode the second run reuses the cached analysis of every older
span.

  .venv/bin/python bench/analyzer_cache.py [--data-root data/taxi] [--out bench/out/cache]
"""
import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ctpipe import config  # pylint: disable=wrong-import-position
from ctpipe.home import Home  # pylint: disable=wrong-import-position
from pipeline import definition, local_runner, run_summary, spans  # pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _transform_seconds(home, settings, result) -> str:
  reader = home.reader(settings.pipeline_name)
  summary = run_summary.summarize(reader, result.first_execution_id)
  found = [e for e in summary.executions if e.node_id == definition.TRANSFORM]
  return f'{found[-1].seconds:6.1f} s ({found[-1].state.lower()})' if found else '—'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-root', default=os.path.join(REPO, 'data', 'taxi'))
  parser.add_argument('--out', default=os.path.join(REPO, 'bench', 'out', 'cache'))
  args = parser.parse_args()
  numbers = [s.number for s in spans.list_spans(args.data_root)]
  schema = os.path.join(REPO, 'schema', 'schema.pbtxt')
  for cached in (False, True):
    settings = config.load(os.path.join(REPO, 'config', 'ctpipe.yaml')).pipeline.replace(
        edge_export=False, analyzer_cache=cached)
    home = Home(os.path.join(args.out, 'cache' if cached else 'merged'))
    shutil.rmtree(home.root, ignore_errors=True)
    line = []
    for newest in numbers[-2:]:
      start = time.time()
      result = local_runner.LocalRun(home, args.data_root, schema, settings).run(newest=newest)
      line.append(f'run to span {newest}: Transform {_transform_seconds(home, settings, result)},'
                  f' pipeline {time.time() - start:6.1f} s')
    print(f'{"analyzer cache, per span" if cached else "merged window          "}: '
          + '; '.join(line), flush=True)


if __name__ == '__main__':
  main()
