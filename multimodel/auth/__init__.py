"""Gateway API keys: stored hashed, checked in memory, with optional budgets, rate and model limits."""
