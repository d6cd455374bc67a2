"""API keys (hashed, scoped, optionally bound to one vault) and per-key request budgets."""
