"""The storage.k8s.io/v1 StorageClass printer: the default class is named "<name> (default)"."""

from __future__ import annotations

from datetime import datetime

from .cells import AGE, NAME, Cells, Column, Obj, Printer, age, doc, get, mapping, name, text

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _storage_classes(sc: Obj, now: datetime) -> Cells:
    annotations = mapping(sc, "metadata", "annotations")
    default = any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)
    return [
        name(sc) + (" (default)" if default else ""),
        text(sc, "provisioner"),
        text(sc, "reclaimPolicy", default="Delete"),
        text(sc, "volumeBindingMode", default="Immediate"),
        bool(get(sc, "allowVolumeExpansion")),
        age(sc, now),
    ]


_CLASS = "storage.v1.StorageClass"
PRINTERS = {
    "storageclasses": Printer(
        (
            NAME,
            Column("Provisioner", description=doc(_CLASS, "provisioner")),
            Column("ReclaimPolicy", description=doc(_CLASS, "reclaimPolicy")),
            Column("VolumeBindingMode", description=doc(_CLASS, "volumeBindingMode")),
            Column("AllowVolumeExpansion", description=doc(_CLASS, "allowVolumeExpansion")),
            AGE,
        ),
        _storage_classes,
    )
}
