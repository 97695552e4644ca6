"""Which questions an experiment runs: the config's ``queries:`` selection.

.. code-block:: yaml

    queries:
      qids: [q3, q7, q12]                        # only these (ids that are not queries are skipped, counted)
      sample: {n: 40, seed: 0, by: relation}     # then a random sample of n; `by`: stratified by a column
      limit: 100                                 # then the first N

Each key is optional and they apply in that order; the questions keep the dataset's order. ``limit`` is a
positive integer; ``qids`` a non-empty list of distinct ids (the id rule of :mod:`rag.core.schema`); listed
ids that are not queries of the split are skipped with a warning that counts them (an error when none is).
``sample``: ``n`` questions drawn without replacement, deterministic under ``seed`` (default: the config's
``seed``); with ``by: COLUMN`` the sample is stratified: each value of the column gets its share of ``n`` in
proportion to its number of questions (largest remainders first), drawn within the group. An ``n`` at least
the number of questions keeps them all (with a warning).

>>> import pandas as pd
>>> qs = pd.DataFrame({"qid": [f"q{i}" for i in range(10)], "query": "?", "rel": ["a"] * 8 + ["b"] * 2})
>>> sample_queries(qs, 5, seed=0, by="rel")["rel"].tolist()
['a', 'a', 'a', 'a', 'b']
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from rag.core.config import item_line
from rag.core.errors import ConfigError, InputError, did_you_mean
from rag.core.schema import check_id

log = logging.getLogger(__name__)

QUERY_KEYS = ("qids", "sample", "limit")
SAMPLE_KEYS = ("n", "seed", "by")


def check_selection(selection: Mapping[str, Any], source: str | None = None, line: int | None = None) -> None:
    """Check a ``queries:`` mapping without the data (keys, types, ids); :class:`ConfigError` with the line."""
    qlines = getattr(selection, "lines", {})
    for key in selection:
        if key not in QUERY_KEYS:
            raise ConfigError(f"unknown queries key {key!r}{did_you_mean(str(key), QUERY_KEYS)}; allowed: "
                              f"{list(QUERY_KEYS)}", path=source, line=qlines.get(str(key), line),
                              field=f"queries.{key}")
    if "limit" in selection:
        _positive(selection["limit"], "queries.limit", "how many queries to run", source, qlines.get("limit", line))
    if "qids" in selection:
        qids, where = selection["qids"], qlines.get("qids", line)
        if not isinstance(qids, list) or not qids:
            raise ConfigError(f"queries.qids must be a non-empty list of query ids, got {qids!r:.80}", path=source,
                              line=where, field="queries.qids")
        seen: set[str] = set()
        for position, qid in enumerate(qids):
            try:
                text = check_id(qid, "query id")
            except InputError as exc:
                raise ConfigError(exc.reason, path=source, line=item_line(qids, position, where),
                                  field="queries.qids") from None
            if text in seen:
                raise ConfigError(f"query id {text!r} is listed twice", path=source,
                                  line=item_line(qids, position, where), field="queries.qids")
            seen.add(text)
    if "sample" in selection:
        _check_sample(selection["sample"], source, qlines.get("sample", line))


def _check_sample(sample: Any, source: str | None, line: int | None) -> None:
    if not isinstance(sample, dict):
        raise ConfigError(f"queries.sample is a mapping {{n: N, seed: S, by: COLUMN}}, got {sample!r:.60}",
                          path=source, line=line, field="queries.sample")
    slines = getattr(sample, "lines", {})
    for key in sample:
        if key not in SAMPLE_KEYS:
            raise ConfigError(f"unknown queries.sample key {key!r}{did_you_mean(str(key), SAMPLE_KEYS)}; allowed: "
                              f"{list(SAMPLE_KEYS)}", path=source, line=slines.get(str(key), line),
                              field=f"queries.sample.{key}")
    if "n" not in sample:
        raise ConfigError("queries.sample needs n (how many questions)", path=source, line=line,
                          field="queries.sample.n")
    _positive(sample["n"], "queries.sample.n", "how many questions to draw", source, slines.get("n", line))
    seed = sample.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"queries.sample.seed must be an integer from 0 to {2**32 - 1}, got {seed!r}", path=source,
                          line=slines.get("seed", line), field="queries.sample.seed")
    if "by" in sample and (not isinstance(sample["by"], str) or not sample["by"].strip()):
        raise ConfigError(f"queries.sample.by names a column of the queries, got {sample['by']!r:.60}", path=source,
                          line=slines.get("by", line), field="queries.sample.by")


def _positive(value: Any, key: str, meaning: str, source: str | None, line: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer ({meaning}), got {value!r:.60}", path=source,
                          line=line, field=key)


def select_queries(queries: pd.DataFrame, selection: Mapping[str, Any], seed: int = 42, source: str | None = None,
                   line: int | None = None, where: str = "the dataset") -> pd.DataFrame:
    """The questions a checked ``queries:`` selection keeps, in their order (``where`` names the dataset and
    split in messages; ``seed`` is the config's, the default of ``sample.seed``)."""
    qlines = getattr(selection, "lines", {})
    if "qids" in selection:
        wanted = [check_id(q) for q in selection["qids"]]
        known = set(queries["qid"])
        unknown = [q for q in wanted if q not in known]
        at = qlines.get("qids", line)
        if len(unknown) == len(wanted):
            raise ConfigError(f"none of the {len(wanted)} query id(s) in queries.qids is a query of {where}, e.g. "
                              f"{unknown[:3]}; its ids look like {queries['qid'].head(3).tolist()}", path=source,
                              line=at, field="queries.qids")
        if unknown:
            log.warning("%s:%s: %d of %d query id(s) in queries.qids are not queries of %s and are skipped: %s",
                        source or "config", at, len(unknown), len(wanted), where, unknown[:5])
        queries = queries[queries["qid"].isin(set(wanted))].reset_index(drop=True)
    if "sample" in selection:
        sample = selection["sample"]
        slines = getattr(sample, "lines", {})
        by = sample.get("by")
        if by is not None and by not in queries.columns:
            raise ConfigError(f"queries.sample.by: {where} has no column {by!r}{did_you_mean(by, queries.columns)}; "
                              f"its columns are {list(queries.columns)}", path=source,
                              line=slines.get("by", qlines.get("sample", line)), field="queries.sample.by")
        queries = sample_queries(queries, int(sample["n"]), int(sample.get("seed", seed)), by)
    if "limit" in selection:
        queries = queries.head(int(selection["limit"])).reset_index(drop=True)
    return queries


def sample_queries(queries: pd.DataFrame, n: int, seed: int, by: str | None = None) -> pd.DataFrame:
    """``n`` rows drawn without replacement under ``seed`` (stratified by the column ``by``: proportional
    shares, largest remainders first), in their original order."""
    if n >= len(queries):
        log.warning("queries.sample: n=%d is at least the %d questions there are: all of them run", n, len(queries))
        return queries.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    if by is None:
        chosen = rng.choice(len(queries), size=n, replace=False)
        return queries.iloc[np.sort(chosen)].reset_index(drop=True)
    try:
        codes, groups = pd.factorize(queries[by], use_na_sentinel=False)
    except TypeError:
        raise InputError(f"queries.sample.by: column {by!r} holds values that cannot be grouped (lists?)",
                         field="queries.sample.by") from None
    sizes = np.bincount(codes, minlength=len(groups))
    quotas = n * sizes / len(queries)
    shares = np.floor(quotas).astype(int)
    order = sorted(range(len(groups)), key=lambda g: (-(quotas[g] - math.floor(quotas[g])), -sizes[g], g))
    for g in order[:n - int(shares.sum())]:
        shares[g] += 1
    chosen = [rng.choice(np.flatnonzero(codes == g), size=shares[g], replace=False)
              for g in range(len(groups)) if shares[g]]
    return queries.iloc[np.sort(np.concatenate(chosen))].reset_index(drop=True)
