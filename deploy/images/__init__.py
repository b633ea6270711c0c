"""Local images: build the pause and busybox OCI tarballs and import them into containerd, with no registry.

`oci` is pure (rootfs description in, deterministic tarball bytes out), `rootfs` says what the two images
contain and builds them, `containerd` imports and lists through `ctr`, `cli` is `kplane images`.
"""

from deploy.images.containerd import (
    ContainerdError,
    ContainerdImage,
    import_tarball,
    list_images,
    node_sockets,
)
from deploy.images.oci import ImageSpec, OciImage, RootfsEntry, build_oci_image
from deploy.images.rootfs import BUSYBOX_IMAGE, PAUSE_IMAGE, ImageBuildError, WrittenImage, build_local_images

__all__ = [
    "BUSYBOX_IMAGE",
    "PAUSE_IMAGE",
    "ContainerdError",
    "ContainerdImage",
    "ImageBuildError",
    "ImageSpec",
    "OciImage",
    "RootfsEntry",
    "WrittenImage",
    "build_local_images",
    "build_oci_image",
    "import_tarball",
    "list_images",
    "node_sockets",
]
