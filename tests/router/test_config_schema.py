"""The config-file JSON Schema: valid draft 2020-12, shipped as `config/schema.json`, and it accepts the example."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from router.config.schema import format_path, render, schema

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_shipped_schema_file_is_the_generated_schema() -> None:
    shipped = (CONFIG / "schema.json").read_text()
    assert shipped == render(), "config/schema.json is stale: python -m router.config.schema > config/schema.json"


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_example_files_validate_against_the_shipped_schema_alone() -> None:
    """What an editor does: plain jsonschema with config/schema.json, no Switchboard code."""
    validator = jsonschema.Draft202012Validator(json.loads((CONFIG / "schema.json").read_text()))
    files = sorted(CONFIG.glob("*.yaml"))
    assert files
    for file in files:
        assert list(validator.iter_errors(yaml.safe_load(file.read_text()))) == [], file


def test_target_schema_follows_the_service_model() -> None:
    target = schema()["$defs"]["Target"]
    assert target["required"] == ["Id", "Arn"]
    assert target["properties"]["RetryPolicy"]["properties"]["MaximumRetryAttempts"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 185,
    }
    assert target["properties"]["Id"]["pattern"] == "^(?:[\\.\\-_A-Za-z0-9]+)$"


def test_format_path() -> None:
    assert format_path(["rules", 2, "targets", 0, "Arn"]) == "rules[2].targets[0].Arn"
    assert format_path([]) == ""
