"""The chart of the VideoPrism blog post: per benchmark, the gain over the previous best, by family.

Bars are ``best VideoPrism number - previous best`` (percentage points, CIDEr x100), grouped and
coloured by the paper's five benchmark groups; with a run chosen, a second hatched bar beside
each paper bar shows ``run - previous best`` for the same benchmark, only where the run is the
paper's protocol (a variant or deviating run has no difference to the previous best). Drawn with matplotlib's Agg
canvas on a bare ``Figure`` (no pyplot, no display, no global state), so it works headless and
from threads. It must never compute a delta itself: they come from the Leaderboard.
"""

from __future__ import annotations

import io
from pathlib import Path

from vpbench.atomic import atomic_write_bytes
from vpbench.leaderboard.tables import Leaderboard, RunColumn

PLOT_SIZE_PX = (1800, 760)
PLOT_DPI = 100
# Colour-blind-safe (Okabe-Ito) colours, one per group, in the order of benchmarks.yaml.
GROUP_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9")
_GROUP_GAP = 1.0  # empty slots between two groups' bars


def plot_gains(board: Leaderboard, path: str | Path, run: RunColumn | None = None) -> Path:
    """Write the PNG to ``path`` (atomically) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = board.published.rows
    groups = board.published.groups
    colour_of = {group.id: GROUP_COLOURS[i % len(GROUP_COLOURS)] for i, group in enumerate(groups)}
    positions, x = [], 0.0
    for index, row in enumerate(rows):
        if index and row.group != rows[index - 1].group:
            x += _GROUP_GAP
        positions.append(x)
        x += 1.0

    figure = Figure(figsize=(PLOT_SIZE_PX[0] / PLOT_DPI, PLOT_SIZE_PX[1] / PLOT_DPI), dpi=PLOT_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.4 if run else 0.75
    offset = width / 2 if run else 0.0
    paper = [row.delta for row in rows]
    colours = [colour_of[row.group] for row in rows]
    axes.bar([p - offset for p in positions], paper, width=width, color=colours, edgecolor=colours, zorder=3)
    values = list(paper)
    for p, value in zip(positions, paper):
        _label(axes, p - offset, value, small=bool(run))

    if run is not None:
        for p, row in zip(positions, rows):
            cell = board.cell(row.id, run.id)
            if cell is None or cell.delta_prev_best is None:
                continue  # the legend says how many benchmarks the run covers comparably
            axes.bar(p + offset, cell.delta_prev_best, width=width, color="white", edgecolor=colour_of[row.group],
                     hatch="////", linewidth=1.0, zorder=3)
            _label(axes, p + offset, cell.delta_prev_best, small=True)
            values.append(cell.delta_prev_best)

    low, high = min(0.0, *values), max(0.0, *values)
    pad = 0.12 * (high - low or 1.0)
    axes.set_ylim(low - pad, high + 2.2 * pad)
    axes.axhline(0, color="black", linewidth=0.8, zorder=4)
    axes.set_xticks(positions)
    axes.set_xticklabels([row.id for row in rows], rotation=55, ha="right", fontsize=9)
    axes.set_xlim(positions[0] - 0.8, positions[-1] + 0.8)
    axes.set_ylabel("gain over previous best (points; CIDEr x100)")
    axes.grid(axis="y", color="#dddddd", zorder=0)
    axes.spines[["top", "right"]].set_visible(False)

    for group in groups:
        xs = [p for p, row in zip(positions, rows) if row.group == group.id]
        axes.text((xs[0] + xs[-1]) / 2, 1.0, group.title, transform=axes.get_xaxis_transform(),
                  ha="center", va="bottom", fontsize=9, color=colour_of[group.id], fontweight="bold", wrap=True)
        if xs[0] != positions[0]:
            axes.axvline(xs[0] - (1 + _GROUP_GAP) / 2, color="#bbbbbb", linewidth=0.8, linestyle=":")

    summary = board.published.summary()
    title = (f"VideoPrism vs the previous best, per benchmark: state of the art on "
             f"{len(summary.wins)} of {summary.total}")
    figure.suptitle(title, fontsize=13, fontweight="bold")
    handles = [Patch(facecolor="#777777", label="paper: best VideoPrism number - previous best")]
    if run is not None:
        cells = [board.cell(row.id, run.id) for row in rows]
        covered = sum(cell is not None and cell.delta_prev_best is not None for cell in cells)
        other = sum(cell is not None and cell.delta_prev_best is None for cell in cells)
        extra = f"; {other} not the paper's protocol, not drawn" if other else ""
        handles.append(Patch(facecolor="white", edgecolor="#777777", hatch="////",
                             label=f"run {run.id} - previous best ({covered} of {len(rows)} benchmarks{extra})"))
    axes.legend(handles=handles, loc="upper right", fontsize=9, frameon=False)
    figure.subplots_adjust(left=0.05, right=0.99, top=0.87, bottom=0.2)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PLOT_DPI)
    return atomic_write_bytes(path, buffer.getvalue())


def _label(axes, x: float, value: float, small: bool) -> None:
    """The bar's value at its end, outside the bar, so negative gains read as such."""
    text = "tie" if round(value, 1) == 0 else f"{value:+.1f}"
    axes.annotate(text, (x, value), xytext=(0, 2 if value >= 0 else -2), textcoords="offset points",
                  ha="center", va="bottom" if value >= 0 else "top", fontsize=7 if small else 8,
                  rotation=90 if small else 0)
