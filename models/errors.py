"""The one exception of the model run time."""

from __future__ import annotations

from pathlib import Path


class ModelError(Exception):
    """A model file, registry entry or input is unusable.

    ``path`` names the file concerned, ``problem`` says what is wrong with it.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
