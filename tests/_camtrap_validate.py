"""Validate a Camtrap DP package offline against the standard's own profile and table schemas.

The package's ``profile`` and ``schema`` fields are URLs of the standard's repository; here they are mapped to
the files of ``../shared/data/camtrap-dp`` (its SOURCE_COMMIT names the commit). The profile's own references
on the web are mapped to the copies frictionless installs: the Data Package profile (``Package.metadata_profile``)
and the GeoJSON schema (``frictionless/assets/profiles/geojson.json``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from conftest import SHARED

CAMTRAP = SHARED / "data" / "camtrap-dp"
STANDARD_URL = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0.2/"
DATA_PACKAGE_SCHEMA_URL = "https://specs.frictionlessdata.io/schemas/data-package.json"
GEOJSON_SCHEMA_URL = "http://json.schemastore.org/geojson.json"
TABLES = ("deployments", "media", "observations")


def camtrap_standard() -> Path:
    if not (CAMTRAP / "camtrap-dp-profile.json").is_file():
        pytest.skip("../shared/data/camtrap-dp is not present")
    commit = (CAMTRAP / "SOURCE_COMMIT").read_text().strip()
    assert len(commit) == 40, "SOURCE_COMMIT names the standard's commit the local files come from"
    profile = json.loads((CAMTRAP / "camtrap-dp-profile.json").read_text(encoding="utf-8"))
    version = profile["$defs"]["version"]["pattern"].replace("\\", "")
    assert STANDARD_URL.endswith(f"/{version}/"), f"the local profile is Camtrap DP {version}"
    return CAMTRAP


def validation_errors(package_dir: Path) -> list[str]:
    """Every way the package in ``package_dir`` breaks Camtrap DP 1.0.2 (empty when it is valid)."""
    frictionless = pytest.importorskip("frictionless", reason="frictionless is a test dependency")
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    standard = camtrap_standard()
    descriptor = json.loads((package_dir / "datapackage.json").read_text(encoding="utf-8"))
    errors: list[str] = []

    # 1. The package descriptor against the Camtrap DP profile (JSON Schema draft 4).
    if descriptor.get("profile") != STANDARD_URL + "camtrap-dp-profile.json":
        errors.append(f"datapackage.json: profile is {descriptor.get('profile')!r}, not Camtrap DP 1.0.2")
    profile = json.loads((standard / "camtrap-dp-profile.json").read_text(encoding="utf-8"))
    data_package = Resource.from_contents(frictionless.Package.metadata_profile, default_specification=DRAFT4)
    geojson_file = Path(frictionless.__file__).parent / "assets" / "profiles" / "geojson.json"
    geojson = json.loads(geojson_file.read_text(encoding="utf-8"))
    geojson.pop("id", None)  # it names another address; here it lives at the one the profile asks for
    registry = Registry().with_resources([
        (DATA_PACKAGE_SCHEMA_URL, data_package),
        (GEOJSON_SCHEMA_URL, Resource.from_contents(geojson, default_specification=DRAFT4)),
    ])
    validator = Draft4Validator(profile, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER)
    for error in validator.iter_errors(descriptor):
        errors.append(f"datapackage.json: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}")

    # 2. The three tables against the standard's table schemas, with frictionless: types, constraints,
    #    required values, unique and primary keys, and the foreign keys between the tables.
    local = copy.deepcopy(descriptor)
    local.pop("profile", None)
    for resource in local["resources"]:
        name = resource.get("name")
        if name in TABLES:
            if resource.get("schema") != f"{STANDARD_URL}{name}-table-schema.json":
                errors.append(f"datapackage.json: resource {name}: schema {resource.get('schema')!r} is not 1.0.2")
            resource["schema"] = json.loads((standard / f"{name}-table-schema.json").read_text(encoding="utf-8"))
    with frictionless.system.use_context(trusted=True):
        report = frictionless.Package(local, basepath=str(package_dir)).validate()
    for task in report.tasks:
        errors += [f"{task.name}: {error.message}" for error in task.errors]
    errors += [f"package: {error.message}" for error in report.errors]
    return errors
