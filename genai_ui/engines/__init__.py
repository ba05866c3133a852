"""Engines: the one owner of loaded pipelines, and the loops that run them."""
