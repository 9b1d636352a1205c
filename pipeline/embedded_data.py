"""The embedded data set: the Chicago-taxi CSV shipped inside the tfx wheel, split into spans.

`data/taxi/` in the repository holds the result (committed), so runs never depend on
where tfx is installed; `python -m pipeline.embedded_data` regenerates it.
"""
import argparse
import os

from pipeline import spans

# One span per calendar year: 4 spans of 833..5,145 rows. Quarterly spans (16 of
# 201..1,380 rows) made the first run ingest 16 spans at ~7 s of fixed cost each.
SPAN_PERIOD = 'year'


def tfx_taxi_csv() -> str:
  """Path of the 15,002-row taxi CSV inside the installed tfx wheel."""
  import tfx  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(tfx.__file__), 'examples', 'chicago_taxi_pipeline',
                      'data', 'simple', 'data.csv')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default=os.path.join('data', 'taxi'))
  parser.add_argument('--period', default=SPAN_PERIOD, choices=['quarter', 'year'])
  args = parser.parse_args()
  index = spans.split_csv_into_spans(tfx_taxi_csv(), args.out, args.period)
  for number, info in index.items():
    print(f'span {number:>2}: {info["period"]:>7} {info["rows"]:>6} rows')


if __name__ == '__main__':
  main()
