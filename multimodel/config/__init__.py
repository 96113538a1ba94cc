"""The configuration: `schema` (the typed classes, the bottom of the package), `load` (a file, the
environment and the embedded defaults -> Settings), `json_schema` (the published JSON Schema, with
each provider kind's options) and `commands` (`multimodel config check|show|schema`)."""
