"""Benchmark: tuned against default hyperparameters, against scikit-learn's gradient boosting,
on taxi and the data sets of bench/datasets.py, under one fixed search budget each.

For each data set, in one fresh home: `ctpipe run --configured-hparams` (those `init`
wrote; taxi: its committed, hand-tuned ones), then `ctpipe tune --max-minutes M` on the same
window and split (the search reads the training split alone), then HistGradientBoosting
fitted on that train split and scored on its eval split (bench/datasets.py `reference`).
Prints the task's metric for the defaults, the tuned model and the reference, the goal
(tuned within 0.01 AUC (binary) or accuracy (multiclass) of the reference, or RMSE within
5 %, and never worse than the defaults), the trials run and the search's seconds.

    .venv/bin/python bench/tuning.py [--minutes 10] [--max-trials 200] [--only taxi,diabetes]
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
_spec = importlib.util.spec_from_file_location(
    'bench_datasets', os.path.join(REPO, 'bench', 'datasets.py'))
dataset_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dataset_bench)


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'ctpipe.cli', *args], cwd=REPO,
                        capture_output=True, text=True)


def _checked(proc, what: str):
  if proc.returncode != 0:
    raise RuntimeError(f'{what} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}')
  return proc


def _record(home: str) -> dict:
  with open(os.path.join(home, 'last_run.json'), encoding='utf-8') as f:
    return json.load(f)


def _search(home: str, pipeline_name: str) -> dict:
  from ctpipe import tuning_results  # pylint: disable=g-import-not-at-top
  from ctpipe.home import Home  # pylint: disable=g-import-not-at-top
  reader = Home(home).reader(pipeline_name)
  results = reader.node_outputs('Tuner', 'TunerResults')
  return tuning_results.read_summary(results[-1].uri) if results else {}


def headline(task: str, metrics: dict) -> float:
  return metrics['rmse'] if task == 'regression' else (
      metrics['auc'] if task == 'binary' else metrics['accuracy'])


def goal(task: str, defaults: float, tuned: float, ref: float) -> str:
  if task == 'regression':
    near = tuned <= ref * 1.05
    kept = tuned <= defaults
    gap = f'RMSE ratio to the reference {tuned / ref:.3f} (goal <= 1.05)'
  else:
    near = tuned >= ref - 0.01
    kept = tuned >= defaults
    gap = f'Δ to the reference {tuned - ref:+.4f} (goal >= -0.01)'
  return (f'{gap}; {"met" if near else "NOT met"}; '
          f'{"not worse than the defaults" if kept else "WORSE than the defaults"}')


def bench_one(name: str, work: str, minutes: float, max_trials: int) -> dict:
  from ctpipe import config  # pylint: disable=g-import-not-at-top
  if name == 'taxi':
    config_path = os.path.join(REPO, 'config', 'ctpipe.yaml')
    home = os.path.join(work, 'taxi-home')
  else:
    make, label, options = dataset_bench.DATASETS[name]
    out = os.path.join(work, name)
    _checked(_cli('init', '--data', make(work), '--label', label, '--name', name, '--dir', out,
                  *options), f'init {name}')
    config_path = os.path.join(out, 'ctpipe.yaml')
    home = os.path.join(out, f'.ctpipe-{name}')
  common = ['--config', config_path, '--home', home]
  _checked(_cli('run', *common, '--configured-hparams'), f'run {name}')
  defaults = _record(home)['candidate']
  project = config.load(config_path)
  ref = dataset_bench.reference(home, project)  # the split both runs trained and judged on
  _checked(_cli('tune', *common, '--max-minutes', str(minutes), '--max-trials', str(max_trials)),
           f'tune {name}')
  record = _record(home)
  return {'name': name, 'task': project.dataset.task, 'defaults': defaults,
          'tuned': record['candidate'], 'reference': ref,
          'search': _search(home, project.pipeline.pipeline_name),
          'tune_seconds': record['pipeline_seconds']}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--minutes', type=float, default=10.0,
                      help='The search budget per data set (wall time).')
  parser.add_argument('--max-trials', type=int, default=200,
                      help='Trial budget; the default leaves the wall time as the budget.')
  parser.add_argument('--work', default=None, help='Keep the runs here (default: a temp dir).')
  parser.add_argument('--only', default='', help='Comma-separated data set names.')
  args = parser.parse_args()
  names = [n for n in ['taxi', *dataset_bench.DATASETS]
           if not args.only or n in args.only.split(',')]
  work = args.work or tempfile.mkdtemp(prefix='ctpipe-tuning-')
  os.makedirs(work, exist_ok=True)
  print(f'search budget: {args.minutes:g} min or {args.max_trials} trials per data set',
        flush=True)
  try:
    for name in names:
      r = bench_one(name, work, args.minutes, args.max_trials)
      task = r['task']
      metric = 'RMSE' if task == 'regression' else 'AUC' if task == 'binary' else 'accuracy'
      d, t = headline(task, r['defaults']), headline(task, r['tuned'])
      ref = r['reference']['rmse' if task == 'regression' else
                           'auc' if task == 'binary' else 'accuracy']
      search = r['search']
      extra = ''
      if task == 'binary':
        extra = (f' | accuracy defaults {r["defaults"]["binary_accuracy"]:.4f}, tuned '
                 f'{r["tuned"]["binary_accuracy"]:.4f}, reference '
                 f'{r["reference"]["accuracy"]:.4f}')
      print(f'{name} ({task}) {metric}: defaults {d:.4f} | tuned {t:.4f} | '
            f'HistGradientBoosting {ref:.4f} | {goal(task, d, t, ref)}{extra} | '
            f'{len(search.get("trials", []))} trials in {search.get("seconds", 0):.0f} s '
            f'(stopped by {search.get("stopped_by", "?")}); best {search.get("best_values")}',
            flush=True)
  finally:
    if args.work is None:
      shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
  main()
