"""In-house models: building the tiny models the gateway ships and tests with."""
