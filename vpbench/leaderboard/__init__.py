"""The leaderboard: published numbers from benchmarks.yaml, run results beside them, and the CI gate.

- ``published.py``: benchmarks.yaml as typed rows; the paper's verdicts (win / tie / loss, N of 33)
- ``runs.py``: result JSONs as records (with their protocol record); means over seeds within one
  protocol fingerprint
- ``tables.py``: the leaderboard as data (columns, cells, protocol and deviation marks); the one
  place that decides which cell may be compared with a published number
- ``aggregate.py``: the versioned per-group aggregate score
- ``render.py``: rich / markdown / CSV / LaTeX / JSON; ``plot.py``: the gain chart
- ``check.py``: the regression gate against a stored baseline

Nothing here runs a model or writes a result; it only reads what ``vpbench run`` wrote.
"""

from vpbench.leaderboard.published import PublishedTable, load_published
from vpbench.leaderboard.render import readme_markdown, render_markdown
from vpbench.leaderboard.tables import Leaderboard, build_leaderboard

__all__ = ["Leaderboard", "PublishedTable", "build_leaderboard", "load_published", "readme_markdown",
           "render_markdown"]
