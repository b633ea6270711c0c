"""Errors of pod volumes, each saying what the kubelet does with it.

VolumeError          a volume could not be set up or torn down. `reason` is the event reason upstream
                     uses ("FailedMount", "FailedUnMount"), `message` the event's text
                     (`MountVolume.SetUp failed for volume "cfg" : configmap "x" not found`).
                     Retrying helps (the object may appear, the apiserver may come back): the pod
                     worker reports a Warning event and syncs the pod again later; the pod waits.
MountError           a container's mounts cannot be made (unknown volume, bad subPath, a subPathExpr
                     whose variables are missing). Upstream reports it as the container's
                     CreateContainerConfigError with this message; the next sync tries again.
"""

from __future__ import annotations

from kubeapi.validation import go_quote

FAILED_MOUNT = "FailedMount"
FAILED_UNMOUNT = "FailedUnMount"


class VolumeError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        # set_up tries every volume of a pod; the first failure is raised, all of them are here
        # (upstream sends one event per failing volume).
        self.all_errors: list[VolumeError] = [self]


class MountError(Exception):
    """A container's mounts cannot be made; str() is upstream's message."""


def setup_failed(volume: str, message: str) -> VolumeError:
    """Upstream's GenerateErrorSimple text for a failed SetUp, the message of its FailedMount event."""
    return VolumeError(FAILED_MOUNT, f"MountVolume.SetUp failed for volume {go_quote(volume)} : {message}")


def teardown_failed(volume: str, message: str) -> VolumeError:
    text = f"UnmountVolume.TearDown failed for volume {go_quote(volume)} : {message}"
    return VolumeError(FAILED_UNMOUNT, text)
