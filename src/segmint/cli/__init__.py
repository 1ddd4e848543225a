"""The ``segmint`` command line.

:data:`app` is the Typer app and :func:`main` the entry point of the ``segmint`` command
(``python -m segmint`` calls it too). The app, its shared console and the error handling are in
:mod:`segmint.cli._app`; the commands are in one module per group, each registering its commands
on the one app as it is imported, in the order ``segmint --help`` lists them:

- :mod:`segmint.cli._run`: ``demo``, ``run``, ``inspect``
- :mod:`segmint.cli._models`: ``clv``, ``typing-tool``, ``sample-size``
- :mod:`segmint.cli._activate`: ``export``, ``score``, ``serve``
- :mod:`segmint.cli._monitor`: ``history``, ``monitor``, ``impact``

A new command goes into the module of its area. The commands import pandas, DuckDB, scikit-learn
and the pipeline inside their functions, so that ``segmint --help`` stays fast.
"""

from segmint.cli._app import app, main

# Importing a module registers its commands; the order of these imports is the order of the
# commands in `segmint --help`.
# isort: off
from segmint.cli import _run, _models, _activate, _monitor  # noqa: F401
# isort: on

__all__ = ["app", "main"]
