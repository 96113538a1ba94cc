"""The config file's JSON Schema, generated from the same classes that validate it, so an editor
(with `# yaml-language-server: $schema=...` at the top of the file) completes and checks
`multimodel.yaml` exactly as the gateway reads it.

Two things the classes leave to the registries are added here: the provider kinds (with each kind's
`options`, from its `Options` class) and the strategy names. A model entry is described in the
file's shape: one deployment written flat beside the name, or `deployments`, with the policy's
fields beside the name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from multimodel.config.schema import DEPLOYMENT_KEYS, POLICY_KEYS, Settings
from multimodel.providers.registry import builtin_names, provider_class, provider_names
from multimodel.routing.strategies import STRATEGIES

SCHEMA_ID = "multimodel.schema.json"
# The copy shipped in the package (and in docs/): built-in provider kinds only.
SHIPPED = Path(__file__).with_name(SCHEMA_ID)


def generate(plugins: bool = True) -> dict[str, Any]:
    """The JSON Schema of `multimodel.yaml`; with `plugins`, installed plugins' provider kinds too."""
    schema = Settings.model_json_schema()
    defs: dict[str, Any] = schema["$defs"]
    kinds = provider_names() if plugins else builtin_names()
    options = {}
    for kind in kinds:
        cls = provider_class(kind).Options
        sub = cls.model_json_schema()
        defs.update(sub.pop("$defs", {}))
        defs[f"options.{kind}"] = sub
        options[kind] = {"$ref": f"#/$defs/options.{kind}"}

    deployment = defs["DeploymentConfig"]
    deployment["required"] = [k for k in deployment["required"] if k != "id"]
    deployment["properties"]["id"]["description"] = (
        "Unique within its model; default: the model's name and the position (`gpt#1`)."
    )
    deployment["properties"]["provider"] |= {"enum": kinds}
    deployment["allOf"] = [
        {
            "if": {"properties": {"provider": {"const": kind}}, "required": ["provider"]},
            "then": {"properties": {"options": ref}},
        }
        for kind, ref in options.items()
    ]
    policy = defs.pop("Policy")
    policy["properties"]["strategy"] |= {"enum": list(STRATEGIES)}

    model = defs["ModelConfig"]
    flat = {k: copy.deepcopy(deployment["properties"][k]) for k in DEPLOYMENT_KEYS}
    model["properties"] = {
        "name": model["properties"]["name"],
        **flat,
        "deployments": model["properties"]["deployments"],
        **{k: policy["properties"][k] for k in POLICY_KEYS},
    }
    model["required"] = ["name"]
    model["allOf"] = [
        *deployment["allOf"],
        {  # either one deployment written flat, or a list of them
            "oneOf": [
                {"required": ["provider", "model"], "not": {"required": ["deployments"]}},
                {
                    "required": ["deployments"],
                    "not": {"anyOf": [{"required": [k]} for k in DEPLOYMENT_KEYS]},
                },
            ]
        },
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "multimodel.yaml",
        **schema,
    }
