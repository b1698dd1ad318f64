"""The project's exception base and one base per package under it.

Every exception edgecascade raises on purpose derives from :class:`EdgecascadeError`, so a
caller can catch "anything of ours" in one clause; each package has one base under it,
so a caller can catch one package's failures. Classes that were ``ValueError`` /
``RuntimeError`` before keep that base too (``except ValueError`` still catches them).
This module imports nothing of ours: ``protocol`` and every tier may import it.

The tree (the module defining each class on the right)::

    EdgecascadeError                         edgecascade.errors
    ├── ConfigError (ValueError)             edgecascade.config
    ├── SettingsError (ValueError)           edgecascade.mqtt
    ├── SiteError (ValueError)               edgecascade.site
    ├── ProtocolError (ValueError)           edgecascade.protocol.errors
    ├── ClaimCheckError                      edgecascade.protocol.claimcheck
    ├── ModelError                           edgecascade.models.errors
    │   ├── ThresholdsError (ValueError)     edgecascade.models.cascade
    │   ├── ProviderRefused                  edgecascade.models.runners.providers
    │   ├── FromAuditError                   edgecascade.tools.models.from_audit
    │   └── ModelImportError                 edgecascade.tools.models.importer
    ├── GatewayError                         edgecascade.errors
    │   ├── FrameRejected (ValueError)       edgecascade.gateway.edge
    │   ├── PrivacyViolation (RuntimeError)  edgecascade.gateway.cloud_client
    │   └── StorageError                     edgecascade.gateway.db
    ├── CloudError                           edgecascade.errors
    │   ├── WorkerError (RuntimeError)       edgecascade.cloud.worker
    │   ├── InputError (ValueError)          edgecascade.cloud.model
    │   ├── BatcherClosed (RuntimeError)     edgecascade.cloud.batcher
    │   └── AwsError (RuntimeError)          edgecascade.cloud.aws
    ├── EmulatorError                        edgecascade.errors
    │   ├── EmulatorModelError (ValueError)  edgecascade.emulator.model
    │   ├── FlashError (ValueError)          edgecascade.emulator.flash
    │   ├── PartitionError (ValueError)      edgecascade.emulator.partitions
    │   ├── SourceError (ValueError)         edgecascade.emulator.sources
    │   └── ProvisionError                   edgecascade.emulator.provision
    └── ToolError                            edgecascade.errors
        ├── BrokerUnavailable (RuntimeError) edgecascade.tools.broker
        ├── BrokerFailed (RuntimeError)      edgecascade.tools.broker
        └── PkiError (RuntimeError)          edgecascade.tools.site.pki

``edgecascade.models.dataset.DatasetError`` is another name of ``ModelError`` (the models
package has one exception). ``ConfigError`` is the gateway's and the worker's (both
``config`` modules re-export it). When a class moves, update its module here:
``tests/test_errors.py`` checks this drawing against the code.

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
