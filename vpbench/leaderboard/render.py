"""Text renderings of a :class:`~vpbench.leaderboard.tables.Leaderboard`: rich, markdown, CSV, LaTeX, JSON.

Every format shows the same facts, laid out like the paper: one table per group (VideoGLUE
frozen, zero-shot retrieval, zero-shot classification, captioning / QA, science) with the
benchmark, metric, the group's two VideoPrism columns, previous best (and its model), the gap
and verdict, the released-checkpoint numbers, then one column per run, then the group mean.
CSV and JSON are flat and unrounded for machines; the others round to one decimal like the
paper. This module decides layout only: it must never compute a verdict, a delta or a mean.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Callable

from vpbench.leaderboard.aggregate import AGGREGATE_NAME, AGGREGATE_VERSION
from vpbench.leaderboard.published import ENCODER_COLUMNS, LM_COLUMNS, PublishedGroup
from vpbench.leaderboard.tables import Leaderboard, RunCell

FORMATS = ("rich", "markdown", "csv", "latex", "json")
# 2: run cells carry their protocol (variant, deviations, deviation mark); groups no longer carry a
# hand-written protocol text (it is generated from the task records: `vpbench protocols`).
LEADERBOARD_VERSION = 2

RUN_CELL_LEGEND = ("Run cells: mean over seeds (± sample std and n when more than one seed), then "
                   "(Δ to the paper's number for the same model size / Δ to the released checkpoint's "
                   "number); [pN] marks cells of one row measured under different protocols; [dN] marks a "
                   "run that is not the paper's protocol (a named variant or a deviation, listed below; "
                   "[d?]: no protocol record): it gets no Δ.")
UNITS_NOTE = "Numbers are in % except CIDEr (x100)."


@dataclass(frozen=True)
class _Style:
    """What differs between human-readable formats: escaping and a few symbols."""

    escape: Callable[[str], str]
    missing: str
    plus_minus: str
    delta: str


_PLAIN = _Style(escape=lambda text: text, missing="—", plus_minus="±", delta="Δ")


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


_MARKDOWN = _Style(escape=_markdown_escape, missing="—", plus_minus="±", delta="Δ")

_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                   "±": r"$\pm$", "Δ": r"$\Delta$", "—": "--"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (and the few non-ASCII symbols this module emits)."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


_LATEX = _Style(escape=latex_escape, missing="--", plus_minus=r"$\pm$", delta=r"$\Delta$")


@dataclass(frozen=True)
class _Grid:
    """One group's table as strings, already escaped for its format."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    aggregate: list[str]


def _number(value: float | None, style: _Style, signed: bool = False) -> str:
    if value is None:
        return style.missing
    if signed and round(value, 1) == 0:
        return "0.0"  # a tie prints unsigned: "+0.0" reads as a narrow win
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _run_text(cell: RunCell | None, style: _Style) -> str:
    if cell is None:
        return style.missing
    result = cell.result
    text = f"{result.value:.1f}"
    if result.std is not None:
        text += f" {style.plus_minus}{result.std:.1f} n={len(result.seeds)}"
    if cell.deviation_mark is None:  # a variant or deviation has no difference to show, not a missing one
        text += f" ({_number(cell.delta_paper, style, True)} / {_number(cell.delta_public, style, True)})"
    for mark in (cell.protocol_mark, cell.deviation_mark):
        if mark:
            text += f" [{mark}]"
    return text


# Reference columns a group shows only when at least one of its benchmarks has a number there
# (the README gives released-checkpoint numbers for two groups; domain experts exist for science).
_OPTIONAL_COLUMNS = (("public_b", "Public B"), ("public_l", "Public L"), ("domain_expert", "Domain expert"))


def _grid(board: Leaderboard, group: PublishedGroup, style: _Style) -> _Grid:
    esc = style.escape
    rows_of_group = board.published.rows_of(group.id)
    optional = [(key, label) for key, label in _OPTIONAL_COLUMNS
                if any(getattr(row, key) is not None for row in rows_of_group)]
    # A run column appears in the groups it has results for; an all-missing column is noise.
    runs = [column for column in board.columns if any(board.cell(row.id, column.id) for row in rows_of_group)]
    headers = ["Benchmark", "Metric", *(esc(label) for _, label in group.columns), "Previous best", style.delta,
               "Result", *(label for _, label in optional), *(esc(column.id) for column in runs)]
    rows = []
    for row in rows_of_group:
        rows.append([
            esc(row.id), esc(row.metric),
            *(_number(row.paper_value(key), style) for key, _ in group.columns),
            f"{row.prev_best:.1f} ({esc(row.prev_best_model)})",
            _number(row.delta, style, signed=True), row.outcome.value,
            *(_number(getattr(row, key), style) for key, _ in optional),
            *(_run_text(board.cell(row.id, column.id), style) for column in runs)])
    means = board.aggregates(group.id)
    aggregate = [esc(f"{AGGREGATE_NAME} (v{AGGREGATE_VERSION})"), "",
                 *(_number(means[key], style) for key, _ in group.columns),
                 _number(means["prev_best"], style), _number(means["delta"], style, signed=True), "",
                 *(_number(means[key], style) for key, _ in optional),
                 *(_number(means[column.id], style) for column in runs)]
    return _Grid(esc(group.title), headers, rows, aggregate)


def _footer_lines(board: Leaderboard) -> list[str]:
    lines = [board.published.summary().line() + ".",
             "Δ: best VideoPrism number of the row minus the previous best. " + UNITS_NOTE,
             f"{AGGREGATE_NAME.capitalize()} (v{AGGREGATE_VERSION}): unweighted mean over the group's "
             "benchmarks, shown only when a column has all of them."]
    if board.columns:
        lines.append(RUN_CELL_LEGEND)
    return [*lines, *board.protocol_notes, *board.deviation_notes, *board.notes]


def render_markdown(board: Leaderboard) -> str:
    """One markdown table per group, then the summary and notes (what the README embeds)."""
    out = []
    for group in board.published.groups:
        grid = _grid(board, group, _MARKDOWN)
        out.append(f"### {grid.title}\n")
        out.append("| " + " | ".join(grid.headers) + " |")
        out.append("|" + "|".join(["---", "---", *["---:"] * (len(grid.headers) - 2)]) + "|")
        out.extend("| " + " | ".join(cells) + " |" for cells in grid.rows)
        first, *rest = grid.aggregate
        out.append("| " + " | ".join([f"*{first}*", *rest]) + " |")
        out.append("")
    out.extend(f"{_markdown_escape(line)}\n" for line in _footer_lines(board))
    return "\n".join(out).rstrip("\n") + "\n"


def render_latex(board: Leaderboard) -> str:
    """One ``tabular`` per group (plain ``\\hline`` rules, no package needed), then the notes."""
    blocks = []
    for group in board.published.groups:
        grid = _grid(board, group, _LATEX)
        width = len(grid.headers)
        lines = [r"\begin{tabular}{ll" + "r" * (width - 2) + "}", r"\hline",
                 rf"\multicolumn{{{width}}}{{l}}{{\textbf{{{grid.title}}}}} \\",
                 " & ".join(grid.headers) + r" \\", r"\hline"]
        lines.extend(" & ".join(cells) + r" \\" for cells in grid.rows)
        first, *rest = grid.aggregate
        lines.extend([r"\hline", " & ".join([rf"\textit{{{first}}}", *rest]) + r" \\", r"\hline",
                      r"\end{tabular}"])
        blocks.append("\n".join(lines))
    notes = "\n".join(rf"{latex_escape(note)}\par" for note in _footer_lines(board))
    return "\n\n".join([*blocks, rf"{{\footnotesize\noindent {notes}}}"]) + "\n"


_PAPER_KEYS = [key for key, _ in (*ENCODER_COLUMNS, *LM_COLUMNS)]


def render_csv(board: Leaderboard) -> str:
    """One row per benchmark, unrounded numbers, empty cells for missing values."""
    run_fields = ("value", "std", "seeds", "delta_paper", "delta_public", "protocol_mark", "variant", "deviations",
                  "deviation_mark", "fingerprint_sha256")
    header = ["group", "benchmark", "task", "metric", *_PAPER_KEYS, "best_videoprism", "prev_best",
              "prev_best_model", "delta", "outcome", "sota_flag", "public_b", "public_l",
              *(f"{column.id} {field}" for column in board.columns for field in run_fields)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in board.published.rows:
        runs = []
        for column in board.columns:
            cell = board.cell(row.id, column.id)
            if cell is None:
                runs.extend([""] * len(run_fields))
                continue
            result = cell.result
            runs.extend([result.value, _blank(result.std), " ".join(map(str, result.seeds)),
                         _blank(cell.delta_paper), _blank(cell.delta_public), cell.protocol_mark or "",
                         *_protocol_fields(cell), cell.deviation_mark or "", result.fingerprint_sha256])
        writer.writerow([row.group, row.id, row.task, row.metric, *(_blank(row.paper_value(k)) for k in _PAPER_KEYS),
                         row.best_videoprism, row.prev_best, row.prev_best_model, row.delta, row.outcome.value,
                         str(row.sota_flag).lower(), _blank(row.public_b), _blank(row.public_l), *runs])
    return buffer.getvalue()


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _protocol_fields(cell: RunCell) -> tuple[str, str]:
    """CSV's variant and deviation ids (space-separated); ``?`` for a result with no protocol record."""
    if cell.protocol is None:
        return "?", "?"
    return cell.protocol.variant or "", " ".join(ident for ident, _ in cell.protocol.deviations)


def _protocol_dict(cell: RunCell) -> dict | None:
    if cell.protocol is None:
        return None
    return {"variant": cell.protocol.variant,
            "deviations": [{"id": ident, "text": text} for ident, text in cell.protocol.deviations]}


def leaderboard_dict(board: Leaderboard) -> dict:
    """Everything the table shows, unrounded, for machines (``--format json``)."""
    summary = board.published.summary()
    benchmarks = []
    for row in board.published.rows:
        runs = {}
        for column in board.columns:
            cell = board.cell(row.id, column.id)
            if cell is not None:
                result = cell.result
                runs[column.id] = {
                    "value": result.value, "std": result.std, "seeds": list(result.seeds),
                    "delta_paper": cell.delta_paper, "delta_public": cell.delta_public,
                    "delta_prev_best": cell.delta_prev_best, "protocol_mark": cell.protocol_mark,
                    # null: the result has no protocol record (unknown protocol, never compared)
                    "protocol": _protocol_dict(cell), "comparable": cell.comparable,
                    "deviation_mark": cell.deviation_mark,
                    "fingerprint_sha256": result.fingerprint_sha256, "files": list(result.files)}
        benchmarks.append({
            "id": row.id, "task": row.task, "group": row.group, "metric": row.metric,
            **{key: row.paper_value(key) for key in _PAPER_KEYS},
            "best_videoprism": row.best_videoprism, "prev_best": row.prev_best,
            "prev_best_model": row.prev_best_model, "prev_best_base": row.prev_best_base,
            "delta": row.delta, "outcome": row.outcome.value, "sota_flag": row.sota_flag,
            "public_b": row.public_b, "public_l": row.public_l, "domain_expert": row.domain_expert,
            "note": row.note, "runs": runs})
    return {
        # "leaderboard_version", not "schema_version": a saved table must never look like a result JSON
        "kind": "vpbench-leaderboard", "leaderboard_version": LEADERBOARD_VERSION,
        "source": str(board.published.source),
        "aggregate": {"name": AGGREGATE_NAME, "version": AGGREGATE_VERSION},
        "summary": {"wins": len(summary.wins), "total": summary.total, "win_ids": list(summary.wins),
                    "ties": list(summary.ties), "losses": list(summary.losses),
                    "flag_disagreements": list(summary.flag_disagreements), "line": summary.line()},
        "groups": [{"id": g.id, "title": g.title,
                    "paper_columns": [{"key": k, "label": label} for k, label in g.columns],
                    "aggregates": board.aggregates(g.id)} for g in board.published.groups],
        "columns": [{"id": c.id, "model": c.model, "adapter": c.adapter, "tiny": c.tiny, "size": c.size,
                     "protocol": c.protocol, "variant": c.variant} for c in board.columns],
        "benchmarks": benchmarks,
        "notes": list(board.notes), "protocol_notes": list(board.protocol_notes),
        "deviation_notes": list(board.deviation_notes),
    }


def render_json(board: Leaderboard) -> str:
    return json.dumps(leaderboard_dict(board), indent=2) + "\n"


def rich_renderables(board: Leaderboard) -> list:
    """rich Tables (one per group) and the summary, for a terminal."""
    from rich.table import Table
    from rich.text import Text

    out: list = []
    for group in board.published.groups:
        grid = _grid(board, group, _PLAIN)
        table = Table(title=grid.title, title_justify="left", title_style="bold", show_lines=False)
        for index, header in enumerate(grid.headers):
            # run headers are "model:adapter": model over adapter keeps the columns narrow
            table.add_column(header.replace(":", ":\n", 1), justify="left" if index < 2 else "right",
                             no_wrap=index < 2)
        for cells, row in zip(grid.rows, board.published.rows_of(group.id)):
            styled = [Text(c) for c in cells]
            delta_index = 2 + len(group.columns) + 1
            colour = {"win": "green", "tie": "yellow", "loss": "red"}[row.outcome.value]
            styled[delta_index].stylize(colour)
            styled[delta_index + 1].stylize(colour)
            table.add_row(*styled)
        table.add_section()
        table.add_row(*(Text(c, style="italic") for c in grid.aggregate))
        out.append(table)
    for index, line in enumerate(_footer_lines(board)):
        out.append(Text(line, style="bold" if index == 0 else "dim"))
    return out


def render_plain(board: Leaderboard, width: int = 1000) -> str:
    """The rich layout as plain text (``--format rich --output FILE``)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    for renderable in rich_renderables(board):
        console.print(renderable)
    return console.export_text()


def stdout_console():
    """A rich Console for stdout; wide when piped, so a captured table keeps one line per row."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 1000)


RENDERERS: dict[str, Callable[[Leaderboard], str]] = {
    "rich": render_plain, "markdown": render_markdown, "csv": render_csv, "latex": render_latex,
    "json": render_json,
}


def readme_markdown(benchmarks_path: str | None = None) -> str:
    """The 33-benchmark published table in markdown, as the README embeds it (no runs).

    Same text as ``vpbench table --published-only --format markdown``.
    """
    from vpbench.leaderboard.published import load_published
    from vpbench.leaderboard.tables import build_leaderboard

    return render_markdown(build_leaderboard(load_published(benchmarks_path)))
