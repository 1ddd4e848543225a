"""The Python entry point ``segmint.run``: what ``segmint run`` does, from a notebook.

:func:`run` reads the tables, segments the customers and writes every output into ``out``
exactly as the command line does (it calls the same pipeline), and returns the
:class:`~segmint.pipeline.RunResult`, which holds the tables the command writes: ``segments``
(one row per customer), ``profiles``, ``evidence`` (the k table), ``accounting`` (row
accounting per source), ``names`` and the output paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from segmint.config import Config
    from segmint.pipeline import RunResult

__all__ = ["run"]


def _config(config: Config | Mapping[str, Any] | str | Path | None) -> Config:
    from segmint.config import Config, load_config

    if config is None or isinstance(config, Config):
        return config or Config()
    if isinstance(config, Mapping):
        return Config.model_validate(dict(config))
    return load_config(config)


def run(
    transactions: str | Path,
    out: str | Path,
    *,
    customers: str | Path | None = None,
    config: Config | Mapping[str, Any] | str | Path | None = None,
    **sources: str | Path,
) -> RunResult:
    """Segment the customers of a transaction log and write the outputs, as ``segmint run``.

    Parameters
    ----------
    transactions : str or Path
        Transaction log (CSV, Parquet, Excel, JSON, SPSS .sav, ...).
    out : str or Path
        Output folder (report, segments, model, run record, ...).
    customers : str or Path, optional
        Customer table (CRM export).
    config : Config, mapping, str or Path, optional
        Settings: a :class:`~segmint.config.Config`, a mapping with the keys of
        ``segmint.yaml``, or the path of a ``segmint.yaml``; defaults when omitted.
    **sources : str or Path
        Further tables by role: ``events``, ``survey``, ``psychographic``, ``campaigns``,
        ``accounts``, ``contacts``.

    Returns
    -------
    RunResult
        ``segments`` (customer, segment id and name), ``profiles``, ``evidence``, ``names``,
        ``accounting``, ``n_customers``, ``n_segments``, ``run_id``, ``files``, ``timings``.

    Raises
    ------
    segmint.exceptions.SegmintError
        For a user mistake (a missing file, an unmapped column, an invalid setting), with the
        same message and hint the command line prints.

    Examples
    --------
    >>> import segmint
    >>> result = segmint.run("transactions.csv", "out", config={"seed": 7})  # doctest: +SKIP
    >>> result.segments.groupby("segment_name").size()  # doctest: +SKIP
    """
    from segmint.pipeline import run_segmentation

    return run_segmentation(
        transactions, out, customers=customers, config=_config(config), sources=sources or None
    )
