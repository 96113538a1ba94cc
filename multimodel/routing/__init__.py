"""Routing: public model names -> the provider that serves them."""
