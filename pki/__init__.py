"""pki: the cluster's CAs, certificates, service-account keys and kubeconfigs."""

from pki.check import CheckReport, check_pki
from pki.errors import ForeignCAError, KubeconfigError, PkiError
from pki.kubeconfig import build_kubeconfig, merge_kubeconfig, remove_context, write_kubeconfig
from pki.layout import PkiSpec
from pki.lifecycle import InitResult, init_pki, renew_certificates

__all__ = [
    "CheckReport",
    "ForeignCAError",
    "InitResult",
    "KubeconfigError",
    "PkiError",
    "PkiSpec",
    "build_kubeconfig",
    "check_pki",
    "init_pki",
    "merge_kubeconfig",
    "remove_context",
    "renew_certificates",
    "write_kubeconfig",
]
