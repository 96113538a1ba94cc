"""Providers: one module per kind of upstream, behind the small interface in base.py."""
