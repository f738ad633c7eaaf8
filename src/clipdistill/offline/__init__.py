"""Stand-ins for what a real run downloads: random-weight models and generated data.

Everything here exists so that the ``smoke`` profile and the tests run offline with the
real architectures and code paths. Nothing here is a result; a run that uses it labels
itself as a smoke run.
"""
