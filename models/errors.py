"""The models package's one exception (datasets, model files, registry, thresholds).

Its place in the project's tree is drawn in :mod:`edgecascade.errors`.
"""

from __future__ import annotations

from pathlib import Path

from edgecascade.errors import EdgecascadeError


class ModelError(EdgecascadeError):
    """A model file, registry entry or input is unusable.

    ``path`` names the file concerned, ``problem`` says what is wrong with it.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
