"""The HTTP API surface: one module per client API, thin over the shared flows."""
