"""What `ctpipe init` infers from a table: the task, each column's treatment, the slices.

Plain functions of a pandas DataFrame (read with every cell as text, then typed here),
so every decision is tested without a pipeline. Each decision carries the reason
`init` writes next to it in the config.
"""
import dataclasses
import math
import re
from typing import Dict, Optional, Sequence, Tuple

TASKS = ('binary', 'multiclass', 'regression')
# Integer labels with at most this many values could be classes or amounts: flagged.
AMBIGUOUS_INT_VALUES = 10
# A categorical column is a slice when it has few values, each with enough rows.
MAX_SLICE_VALUES = 12
MIN_SLICE_ROWS = 30
MAX_SLICES = 3
# Integer codes with at most this many values in [min, max] get a ranged index.
MAX_RANGED_SPAN = 1000
HASH_BUCKETS = 256
# Cells that mean "no value" in the tables people export (R's NA, pandas' NaN, ...):
# read as missing, and written as empty cells into the spans.
MISSING_TOKENS = frozenset({'', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None'})
# Text with more distinct values than this share of its rows is an identifier.
ID_SHARE = 0.5


class InitError(ValueError):
  """The table cannot be turned into a data set as it is; the message says why."""


@dataclasses.dataclass(frozen=True)
class Column:
  """One column's profile: its kind and the facts the treatment is chosen from."""
  name: str
  kind: str  # 'int' | 'float' | 'string' | 'date' | 'empty'
  rows: int
  missing: int
  distinct: int
  minimum: Optional[float] = None
  maximum: Optional[float] = None
  skew: float = 0.0
  top_counts: Tuple[int, ...] = ()  # the most frequent values' counts, descending


@dataclasses.dataclass(frozen=True)
class Choice:
  column: str
  treatment: str  # amounts | numbers | ranged | hashed | vocabulary | dates | unused
  why: str
  low: Optional[int] = None
  high: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Inference:
  task: str
  task_why: str
  label: str
  positive_class: str
  classes: Tuple[str, ...]
  choices: Tuple[Choice, ...]
  slices: Tuple[str, ...]
  columns: Tuple[Column, ...] = ()  # every column's profile, label included, in order
  ambiguous: str = ''  # a warning to print: how to choose the other task


def safe_name(name: str) -> str:
  """A column name TensorFlow accepts as a feature and op name."""
  cleaned = re.sub(r'[^A-Za-z0-9_.\-]+', '_', name.strip()).strip('_')
  if not cleaned or not re.match(r'[A-Za-z]', cleaned[0]):
    cleaned = f'f_{cleaned}'
  return cleaned


def _number(text: str) -> Optional[float]:
  try:
    value = float(text)
  except ValueError:
    return None
  return value if math.isfinite(value) else None


def is_missing(cell: str) -> bool:
  return cell.strip() in MISSING_TOKENS


def _is_date(text: str) -> bool:
  return bool(re.fullmatch(r'\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?', text.strip()))


def profile(name: str, cells: Sequence[str]) -> Column:
  """The column's kind from its text cells (MISSING_TOKENS are missing)."""
  present = [c for c in cells if not is_missing(c)]
  if not present:
    return Column(name, 'empty', len(cells), len(cells), 0)
  numbers = [_number(c) for c in present]
  counts: Dict[str, int] = {}
  for c in present:
    counts[c] = counts.get(c, 0) + 1
  top = tuple(sorted(counts.values(), reverse=True)[:MAX_SLICE_VALUES + 1])
  if all(n is not None for n in numbers):
    is_int = all(float(n).is_integer() and re.fullmatch(r'[+-]?\d+', c.strip())
                 for n, c in zip(numbers, present))
    mean = sum(numbers) / len(numbers)
    var = sum((x - mean) ** 2 for x in numbers) / len(numbers)
    skew = (sum((x - mean) ** 3 for x in numbers) / len(numbers) / var ** 1.5) if var > 0 else 0.0
    return Column(name, 'int' if is_int else 'float', len(cells), len(cells) - len(present),
                  len(counts), min(numbers), max(numbers), skew, top)
  kind = 'date' if sum(map(_is_date, present)) >= 0.9 * len(present) else 'string'
  return Column(name, kind, len(cells), len(cells) - len(present), len(counts), top_counts=top)


def infer_task(label: Column, values: Sequence[str], requested: str = 'auto',
               positive_class: str = '') -> Tuple[str, str, str, Tuple[str, ...], str]:
  """(task, why, positive class, classes, ambiguity warning) for the label column."""
  def order(value: str):  # numbers by value, then text
    number = _number(value)
    return (number is None, number or 0.0, value)
  present = sorted({v for v in values if not is_missing(v)}, key=order)
  if label.kind == 'empty' or label.distinct == 0:
    raise InitError(f'label column {label.name!r} is empty')
  if label.missing:
    raise InitError(f'label column {label.name!r} is missing in {label.missing} of '
                    f'{label.rows} rows; fill or drop those rows first')
  if label.distinct == 1:
    raise InitError(f'label column {label.name!r} is constant ({present[0]!r}): nothing to learn')
  ambiguous = ''
  if requested != 'auto':
    if requested not in TASKS:
      raise InitError(f'--task {requested!r}: one of auto, {", ".join(TASKS)}')
    task, why = requested, 'as asked (--task)'
  elif label.distinct == 2:
    task, why = 'binary', f'the label has two values ({present[0]}, {present[1]})'
  elif label.kind == 'float':
    task, why = 'regression', f'the label is a number with {label.distinct} distinct values'
  elif label.kind == 'string':
    task, why = 'multiclass', f'the label is text with {label.distinct} values'
  elif label.distinct <= AMBIGUOUS_INT_VALUES:
    task, why = 'multiclass', f'the label is an integer with {label.distinct} values'
    ambiguous = (f'the label {label.name!r} is an integer with {label.distinct} values: '
                 'classes are assumed; pass --task regression if they are amounts')
  else:
    task, why = 'regression', f'the label is an integer with {label.distinct} values'
  if task == 'binary' and len(present) != 2:
    raise InitError(f'--task binary needs a label with two values; {label.name!r} has '
                    f'{len(present)}')
  classes: Tuple[str, ...] = tuple(present) if task != 'regression' else ()
  positive = ''
  if task == 'binary':
    if positive_class:
      if positive_class not in present:
        raise InitError(f'--positive-class {positive_class!r} is not a value of '
                        f'{label.name!r} ({", ".join(present)})')
      positive = positive_class
    else:
      positive = '1' if set(present) == {'0', '1'} else present[-1]
  elif positive_class:
    raise InitError('--positive-class is for a binary label')
  return task, why, positive, classes, ambiguous


def choose(column: Column) -> Choice:
  """The treatment of one feature column, with the reason."""
  name = column.name
  if column.kind == 'empty':
    return Choice(name, 'unused', 'excluded: empty in every row')
  if column.distinct == 1 and not column.missing:
    return Choice(name, 'unused', 'excluded: the same value in every row')
  if column.distinct == column.rows - column.missing and column.kind in ('int', 'string') \
      and column.rows > 20:
    return Choice(name, 'unused', 'excluded: a distinct value in every row (an id?)')
  if column.kind == 'date':
    return Choice(name, 'dates', 'a date: month, day of week and hour, each an index')
  present = column.rows - column.missing
  if column.kind == 'string' and column.distinct > max(50, ID_SHARE * present):
    return Choice(name, 'unused', f'excluded: {column.distinct} distinct values in {present} '
                                  'rows (an identifier or free text?)')
  if column.kind == 'string':
    return Choice(name, 'vocabulary', f'text with {column.distinct} values: a vocabulary')
  if column.kind == 'int':
    low, high = int(column.minimum), int(column.maximum)
    # Codes count from 0 or 1 (hours, days, areas); measurements start anywhere.
    if 0 <= low <= 1 and high - low <= MAX_RANGED_SPAN and column.distinct <= 100:
      return Choice(name, 'ranged', f'integer codes {low}..{high}: one index each', low, high)
    if column.distinct > 100 and column.skew < 2 and high - low > MAX_RANGED_SPAN * 10:
      return Choice(name, 'hashed', f'{column.distinct} integer codes: hashed into '
                                    f'{HASH_BUCKETS} buckets')
  if column.minimum is not None and column.minimum >= 0 and column.skew > 2:
    return Choice(name, 'amounts', f'positive and skewed (skewness {column.skew:.1f}): '
                                   'log1p, then z-score and quantile buckets')
  return Choice(name, 'numbers', 'a number: z-score and quantile buckets')


def slices(columns: Sequence[Column], choices: Sequence[Choice]) -> Tuple[str, ...]:
  """Low-cardinality categorical features with enough rows per value."""
  by_name = {c.name: c for c in columns}
  found = []
  for choice in choices:
    column = by_name[choice.column]
    if choice.treatment in ('vocabulary', 'ranged') and 2 <= column.distinct <= MAX_SLICE_VALUES \
        and column.top_counts and column.top_counts[min(len(column.top_counts), column.distinct)
                                                    - 1] >= MIN_SLICE_ROWS:
      found.append(choice.column)
  return tuple(found[:MAX_SLICES])


def infer(header: Sequence[str], rows: Sequence[Sequence[str]], label: str,
          task: str = 'auto', positive_class: str = '',
          exclude: Sequence[str] = (), time_column: str = '') -> Inference:
  """Everything `init` decides about the table (names already made safe)."""
  if label not in header:
    raise InitError(f'no label column {label!r}; the columns are {", ".join(header)}')
  unknown = sorted(set(exclude) - set(header))
  if unknown:
    raise InitError(f'--exclude names no column: {", ".join(unknown)}')
  index = {name: i for i, name in enumerate(header)}
  columns = {name: profile(name, [r[i] for r in rows]) for name, i in index.items()}
  label_values = [r[index[label]] for r in rows]
  chosen_task, why, positive, classes, ambiguous = infer_task(
      columns[label], label_values, task, positive_class)
  choices = []
  for name in header:
    if name == label:
      continue
    if name in exclude:
      choices.append(Choice(name, 'unused', 'excluded: --exclude'))
    elif name == time_column:
      choices.append(Choice(name, 'unused', 'the time column: it defines the spans'))
    else:
      choices.append(choose(columns[name]))
  if not any(c.treatment != 'unused' for c in choices):
    raise InitError('no column is left to learn from (all excluded)')
  return Inference(chosen_task, why, label, positive, classes, tuple(choices),
                   slices(list(columns.values()), choices), tuple(columns.values()), ambiguous)
