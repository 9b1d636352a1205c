"""The embedded data set: the Chicago-taxi CSV shipped inside the tfx wheel, split into spans.

`data/taxi/` in the repository holds the result (committed), so runs never depend on
where tfx is installed; `.venv/bin/python data/make_taxi_spans.py` regenerates it. The
time column is the data set's (`dataset.time_column` in config/ctpipe.yaml).
"""
import argparse
import os

from ctpipe import config
from pipeline import spans

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'config',
                      'ctpipe.yaml')

# One span per calendar year: 4 spans of 833..5,145 rows. Quarterly spans (16 of
# 201..1,380 rows) make a first run ingest 16 spans, each with a pipeline's fixed cost.
SPAN_PERIOD = 'year'


def tfx_taxi_csv() -> str:
  """Path of the 15,002-row taxi CSV inside the installed tfx wheel."""
  import tfx  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(tfx.__file__), 'examples', 'chicago_taxi_pipeline',
                      'data', 'simple', 'data.csv')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    'taxi'))
  parser.add_argument('--period', default=SPAN_PERIOD, choices=['quarter', 'year'])
  args = parser.parse_args()
  dataset = config.load(CONFIG).dataset
  index = spans.split_csv_into_spans(tfx_taxi_csv(), args.out, args.period, dataset.time_column)
  for number, info in index.items():
    print(f'span {number:>2}: {info["period"]:>7} {info["rows"]:>6} rows')


if __name__ == '__main__':
  main()
