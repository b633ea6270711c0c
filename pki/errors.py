"""Errors of the pki package.

Every error is one line naming the file or value to fix. None of them is retryable: running the
command again without changing the files or the input gives the same answer.

    PkiError            the PKI directory or the request is wrong (bad node name, CA key missing, ...)
    ├── ForeignCAError  a certificate was signed by a CA other than the one present
    └── KubeconfigError a kubeconfig cannot be read or has the wrong shape
"""

from __future__ import annotations

from componentbase.cli import CommandError


class PkiError(CommandError):
    """The PKI directory or the request is wrong; the message names the file or value to fix."""


class ForeignCAError(PkiError):
    """A certificate was signed by a CA other than the one in the directory. We refuse to replace
    it: whatever trusts the other CA would silently stop working."""


class KubeconfigError(PkiError):
    """A kubeconfig cannot be parsed or has the wrong shape. We never overwrite a file we cannot
    parse, since it may hold someone's other clusters."""
