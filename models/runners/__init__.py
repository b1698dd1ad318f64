"""Model runners behind one interface (:class:`.base.Runner`): LiteRT
(``edgecascade.models.runtime.ModelRunner``), ONNX Runtime (:mod:`.onnx`) and PyTorch
(:mod:`.torch`); :func:`edgecascade.models.runtime.open_runner` picks one from
:class:`.settings.RuntimeSettings`. Only :mod:`.settings` is imported here: each
backend's package is imported when that backend is asked for."""

from .settings import BackendInfo, RuntimeSettings

__all__ = ["BackendInfo", "RuntimeSettings"]
