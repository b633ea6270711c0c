"""Regenerate kubeapi/schema/definitions.json.gz: the OpenAPI definitions of Kubernetes v1.32.

    .venv/bin/python -m kubeapi.schema.generate            # downloads the source from PyPI, rewrites
    .venv/bin/python -m kubeapi.schema.generate --check    # exit 1 if the checked-in file differs

The source is the JSON Schema conversion of upstream's api/openapi-spec that the
`kubernetes-validate` package ships (pinned below; the `v1.32.0-local` set, whose `_definitions.json`
holds every definition with upstream's descriptions, `required` lists, formats and the
`x-kubernetes-*` extensions: group-version-kind, patch strategy and merge key, list type and map
keys). The conversion made every type nullable (`["string", "null"]`); that is undone here, and refs
point at `#/definitions/...` again, so the file reads like upstream's swagger definitions. Only the
facts are used: nothing of that package runs at runtime.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

SOURCE_PACKAGE = "kubernetes-validate==1.37.0"
SOURCE_MEMBER = "kubernetes_validate/kubernetes-json-schema/v1.32.0-local/_definitions.json"
OUTPUT = Path(__file__).with_name("definitions.json.gz")


def normalize(schema: dict[str, Any]) -> dict[str, Any]:
    """Undo the JSON Schema conversion in one schema: single types, no nulls, swagger-style refs."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            value = kinds[0] if len(kinds) == 1 else kinds
        elif key == "$ref":
            value = value.replace("#/$defs/", "#/definitions/")
        elif key == "properties":
            value = {name: normalize(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = normalize(value)
        elif key in ("allOf", "oneOf", "anyOf"):
            value = [normalize(child) for child in value]
        out[key] = value
    if "oneOf" in out:  # IntOrString and Quantity, which upstream writes as strings with a format
        branches = [branch.get("type") for branch in out.pop("oneOf")]
        out["type"] = "string"
        if branches == ["string", "integer"]:
            out["format"] = "int-or-string"
    return out


def build() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", scratch, SOURCE_PACKAGE],
            check=True,
        )
        (wheel,) = Path(scratch).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            source = json.loads(archive.read(SOURCE_MEMBER))
    definitions = {name: normalize(schema) for name, schema in source["$defs"].items()}
    text = json.dumps({"definitions": definitions}, separators=(",", ":"), sort_keys=True)
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare with the checked-in file instead")
    args = parser.parse_args()
    data = build()
    if args.check:
        if OUTPUT.read_bytes() != data:
            print(f"{OUTPUT} is stale: run python -m kubeapi.schema.generate", file=sys.stderr)
            sys.exit(1)
        return
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
