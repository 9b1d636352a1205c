"""Small inline SVG charts for the HTML report: lines, bars and a layered DAG. No scripts.

Each function returns one `<svg>` element as text, sized in CSS pixels, with a
`<title>` so screen readers and tests can tell the charts apart.
"""
from html import escape
from typing import Dict, List, Optional, Sequence, Tuple

Point = Tuple[float, float]
_PALETTE = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd')


def _frame(title: str, width: int, height: int, body: str) -> str:
  return (f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
          f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
          f'{body}</svg>')


def line_chart(title: str, series: Dict[str, Sequence[Point]], x_label: str, y_label: str,
               diagonal: bool = False, width: int = 360, height: int = 300,
               bounds: Optional[Tuple[float, float, float, float]] = None,
               zero_line: bool = False) -> str:
  """Lines over `bounds` (x_min, x_max, y_min, y_max; default [0, 1] x [0, 1]: ROC,
  calibration); `diagonal` draws y = x and `zero_line` y = 0 for reference."""
  left, bottom, top, right = 48, 40, 24, 12
  plot_w, plot_h = width - left - right, height - top - bottom
  x0, x1, y0, y1 = bounds or (0.0, 1.0, 0.0, 1.0)
  x_span, y_span = (x1 - x0) or 1.0, (y1 - y0) or 1.0

  def scaled(p: Point) -> Tuple[float, float]:
    fx = max(0.0, min(1.0, (p[0] - x0) / x_span))
    fy = max(0.0, min(1.0, (p[1] - y0) / y_span))
    return left + fx * plot_w, top + (1 - fy) * plot_h

  def xy(p: Point) -> str:
    x, y = scaled(p)
    return f'{x:.1f},{y:.1f}'

  parts = [f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" '
           f'font-weight="bold">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
           f'stroke="#999"/>']
  for tick in (0, 0.25, 0.5, 0.75, 1):
    x, y = left + tick * plot_w, top + (1 - tick) * plot_h
    parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="10" '
                 f'text-anchor="middle">{x0 + tick * x_span:.3g}</text>')
    parts.append(f'<text x="{left - 6}" y="{y + 3:.1f}" font-size="10" '
                 f'text-anchor="end">{y0 + tick * y_span:.3g}</text>')
  parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="11" '
               f'text-anchor="middle">{escape(x_label)}</text>')
  parts.append(f'<text x="12" y="{top + plot_h / 2}" font-size="11" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + plot_h / 2})">{escape(y_label)}</text>')
  references = []
  if diagonal:
    low, high = max(x0, y0), min(x1, y1)
    references.append(((low, low), (high, high)))
  if zero_line and y0 <= 0 <= y1:
    references.append(((x0, 0.0), (x1, 0.0)))
  for start, end in references:
    (ax, ay), (bx, by) = scaled(start), scaled(end)
    parts.append(f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
                 f'stroke="#bbb" stroke-dasharray="4 3"/>')
  for i, (name, points) in enumerate(series.items()):
    colour = _PALETTE[i % len(_PALETTE)]
    if points:
      parts.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
                   f'points="{" ".join(xy(p) for p in points)}"/>')
    parts.append(f'<text x="{left + 8}" y="{top + 14 + 14 * i}" font-size="11" '
                 f'fill="{colour}">{escape(name)}</text>')
  return _frame(title, width, height, ''.join(parts))


def bounds_of(series: Dict[str, Sequence[Point]], square: bool = False
              ) -> Tuple[float, float, float, float]:
  """(x_min, x_max, y_min, y_max) around every point, padded by 5 %; `square`: one range
  for both axes (predicted against actual)."""
  xs = [p[0] for points in series.values() for p in points] or [0.0, 1.0]
  ys = [p[1] for points in series.values() for p in points] or [0.0, 1.0]
  if square:
    xs = ys = xs + ys

  def padded(values):
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or 1.0
    return low - pad, high + pad
  return (*padded(xs), *padded(ys))


def bar_chart(title: str, bars: Sequence[Tuple[str, float, Optional[float]]],
              value_label: str, width: int = 560) -> str:
  """Horizontal bars (candidate) with a tick for the baseline where there is one."""
  row, left, top = 18, 170, 26
  height = top + row * max(1, len(bars)) + 24
  plot_w = width - left - 60
  high = max([1e-9] + [v for _, v, _ in bars] + [b for _, _, b in bars if b is not None])
  parts = [f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" '
           f'font-weight="bold">{escape(title)}</text>']
  for i, (label, value, baseline) in enumerate(bars):
    y = top + i * row
    parts.append(f'<text x="{left - 6}" y="{y + 12}" font-size="11" '
                 f'text-anchor="end">{escape(label)}</text>')
    parts.append(f'<rect class="bar" x="{left}" y="{y + 2}" height="{row - 5}" '
                 f'width="{plot_w * value / high:.1f}" fill="{_PALETTE[0]}"/>')
    parts.append(f'<text x="{left + plot_w * value / high + 4:.1f}" y="{y + 12}" '
                 f'font-size="10">{value:.3f}</text>')
    if baseline is not None:
      x = left + plot_w * baseline / high
      parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + row - 2}" '
                   f'stroke="{_PALETTE[1]}" stroke-width="2"/>')
  legend = (f'bar: candidate; <tspan fill="{_PALETTE[1]}">tick: baseline</tspan>'
            if any(b is not None for _, _, b in bars) else 'bar: candidate')
  parts.append(f'<text x="{left}" y="{height - 6}" font-size="11">{escape(value_label)} '
               f'({legend})</text>')
  return _frame(title, width, height, ''.join(parts))


def dag(title: str, nodes: Sequence[Tuple[str, str, str]], edges: Sequence[Tuple[str, str]],
        width: int = 1000) -> str:
  """Components as boxes in layers by dependency depth, top to bottom, every layer centred
  and wrapped to `width` (the graph always fits it); `nodes` are (id, label, colour).
  Edges are curves drawn beneath the boxes, from a box's bottom to the next one's top."""
  depth: Dict[str, int] = {n: 0 for n, _, _ in nodes}
  for _ in range(len(nodes)):  # longest-path layering
    changed = False
    for a, b in edges:
      if a in depth and b in depth and depth[b] < depth[a] + 1:
        depth[b] = depth[a] + 1
        changed = True
    if not changed:
      break
  layers: Dict[int, List[str]] = {}
  for node_id, _, _ in nodes:
    layers.setdefault(depth[node_id], []).append(node_id)
  box_w, box_h, gap_x, gap_y, top = 160, 26, 16, 30, 30
  per_row = max(1, int((width - 20 + gap_x) // (box_w + gap_x)))
  where: Dict[str, Point] = {}
  y = top
  for layer in sorted(layers):
    ids = layers[layer]
    for start in range(0, len(ids), per_row):
      row = ids[start:start + per_row]
      row_w = len(row) * box_w + (len(row) - 1) * gap_x
      x0 = (width - row_w) / 2
      for i, node_id in enumerate(row):
        where[node_id] = (x0 + i * (box_w + gap_x), y)
      y += box_h + gap_y
  height = y + 4
  parts = [f'<text x="10" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
           'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker>'
           '</defs>']
  for a, b in edges:
    if a in where and b in where:
      (x1, y1), (x2, y2) = where[a], where[b]
      sx, sy, ex, ey = x1 + box_w / 2, y1 + box_h, x2 + box_w / 2, y2
      bend = max(12.0, (ey - sy) / 2)
      parts.append(f'<path class="edge" d="M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + bend:.1f} '
                   f'{ex:.1f},{ey - bend:.1f} {ex:.1f},{ey:.1f}" fill="none" stroke="#aaa" '
                   f'marker-end="url(#arrow)"/>')
  for node_id, label, colour in nodes:
    x, y = where[node_id]
    parts.append(f'<g class="node"><rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" '
                 f'height="{box_h}" rx="4" fill="{colour}" stroke="#555"/>'
                 f'<text x="{x + box_w / 2:.1f}" y="{y + 17:.1f}" font-size="11" '
                 f'text-anchor="middle">{escape(label)}</text></g>')
  return _frame(title, width, int(height), ''.join(parts))


def mini_bars(title: str, values: Sequence[Tuple[str, float]], width: int = 180,
              height: int = 28) -> str:
  """A feature's distribution in a table cell: one bar per bucket or value, its share as the
  height; each bar's `<title>` names it (hover)."""
  if not values:
    return ''
  gap = 1
  bar_w = max(1.0, (width - gap * (len(values) - 1)) / len(values))
  high = max(v for _, v in values) or 1.0
  parts = []
  for i, (label, share) in enumerate(values):
    h = max(1.0, (height - 2) * share / high)
    x = i * (bar_w + gap)
    parts.append(f'<rect class="bar" x="{x:.1f}" y="{height - h:.1f}" width="{bar_w:.1f}" '
                 f'height="{h:.1f}" fill="{_PALETTE[0]}"><title>{escape(label)}: '
                 f'{share:.1%}</title></rect>')
  return _frame(title, width, height, ''.join(parts))
