"""Wire formats: each client API converts to the canonical types (multimodel.types) and back."""
