"""The models the tests and the benches build from recipes (models.py): both import them from here, and
the package never imports tests/."""
