"""The project's exception base and one base per package under it.

Every exception edgecascade raises on purpose derives from :class:`EdgecascadeError`, so a
caller can catch "anything of ours" in one clause; each package has one base under it,
so a caller can catch one package's failures. Classes that were ``ValueError`` /
``RuntimeError`` before keep that base too (``except ValueError`` still catches them).
This module imports nothing of ours: ``protocol`` and every tier may import it.

The tree (module where each class is defined on the right)::

    EdgecascadeError                       edgecascade.errors
    ├── ConfigError (ValueError)           edgecascade.config        every problem, with its path
    ├── SettingsError (ValueError)         edgecascade.mqtt          one broker setting
    ├── ProtocolError (ValueError)         edgecascade.protocol      bad bytes, field or topic
    ├── ClaimCheckError                    claim-check seam          S3 put/get failed
    ├── ModelError                         edgecascade.models        a model file, split or input
    │   ├── DatasetError                   edgecascade.models.dataset  (alias of ModelError)
    │   └── ThresholdsError (ValueError)   edgecascade.models.cascade  a threshold out of range
    ├── GatewayError                       edgecascade.errors
    │   ├── FrameRejected (ValueError)     edgecascade.gateway.edge
    │   ├── PrivacyViolation (RuntimeError) edgecascade.gateway.cloud_client
    │   └── StorageError                   edgecascade.gateway.db
    ├── CloudError                         edgecascade.errors
    │   ├── WorkerError (RuntimeError)     edgecascade.cloud.worker
    │   ├── InputError (ValueError)        edgecascade.cloud.model
    │   ├── BatcherClosed (RuntimeError)   edgecascade.cloud.batcher
    │   └── AwsError (RuntimeError)        edgecascade.cloud.aws
    ├── EmulatorError                      edgecascade.errors
    │   ├── EmulatorModelError (ValueError) edgecascade.emulator.model
    │   ├── FlashError (ValueError)        edgecascade.emulator.flash
    │   └── ProvisionError                 edgecascade.emulator.provision
    └── ToolError                          edgecascade.errors
        ├── BrokerUnavailable (RuntimeError) edgecascade.tools.broker
        └── BrokerFailed (RuntimeError)    edgecascade.tools.broker

Each class keeps its own fields (``ProtocolError.what/where/why``, ``ConfigError.problems``,
``ModelError.path/problem`` ...); the bases below carry none.
"""

from __future__ import annotations


class EdgecascadeError(Exception):
    """Base of every exception edgecascade raises on purpose."""


class GatewayError(EdgecascadeError):
    """Base of the gateway's exceptions (``edgecascade.gateway``)."""


class CloudError(EdgecascadeError):
    """Base of the cloud worker's exceptions (``edgecascade.cloud``)."""


class EmulatorError(EdgecascadeError):
    """Base of the device emulator's exceptions (``edgecascade.emulator``)."""


class ToolError(EdgecascadeError):
    """Base of the developer tools' exceptions (``edgecascade.tools``)."""


__all__ = ["CloudError", "EdgecascadeError", "EmulatorError", "GatewayError", "ToolError"]
