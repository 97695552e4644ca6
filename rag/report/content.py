"""What a leaderboard says, read from a results folder: the values, the best per column, significance against
the baseline, notes on empty or partial cells and the provenance lines (:class:`BoardContent`). The formats
(:mod:`rag.report.board`: Markdown; :mod:`rag.report.latex`, :mod:`rag.report.html`) render it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Self, Union

import pandas as pd

from rag.core.errors import InputError
from rag.core.files import file_stem
from rag.datasets.io import read_json
from rag.report.tables import read_table

LOWER_IS_BETTER = {"FaithCritic", "latency", "seconds", "cost", "tokens"}
MARK = "†"
EMPTY = "–"


def lower_is_better(measure: str) -> bool:
    """Guess from the name, for tables written without measure information (ragif < 0.2)."""
    return any(measure.lower().startswith(m.lower()) for m in LOWER_IS_BETTER)


Digits = Union[int, str, Mapping[str, int], None]
# correctness measures that penalise verbose answers, for boards written before measures declared it
_SHORT_ANSWER_MEASURES = ("EM", "F1", "Precision", "ROUGE-1", "ROUGE-2", "ROUGE-L", "METEOR", "BERTScore-P",
                          "BERTScore-F1")


def parse_digits(digits: Digits, default: int = 4) -> dict[str, int]:
    """``3``, ``"3"``, ``"3,LLMTokens=0"`` or ``{"*": 3, "LLMTokens": 0}`` as a mapping (``"*"``: measures that
    declare no digits of their own)."""
    if digits is None:
        return {"*": default}
    if isinstance(digits, bool):
        raise InputError(f"digits must be a number, got {digits!r}", field="digits")
    if isinstance(digits, int):
        out: dict[str, int] = {"*": digits}
    elif isinstance(digits, str):
        out = {"*": default}
        for part in filter(None, (p.strip() for p in digits.split(","))):
            name, eq, value = part.rpartition("=") if "=" in part else ("*", "", part)
            if not value.strip().isdigit():
                raise InputError(f"digits are written N or MEASURE=N (comma-separated), got {part!r}",
                                 field="digits")
            out[name.strip() or "*"] = int(value)
    elif isinstance(digits, Mapping):
        out = {"*": default, **{str(k): v for k, v in digits.items()}}
    else:
        raise InputError(f"digits must be a number or a mapping, got {digits!r}", field="digits")
    for name, value in out.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 12:
            raise InputError(f"digits for {name!r} must be an integer from 0 to 12, got {value!r}", field="digits")
    return out


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class BoardContent:
    """The content of a leaderboard, read from a folder written by ``ExperimentResults.save`` (the formats are
    :class:`rag.report.board.Board`'s).

    What a measure declared when it was registered (``provenance["measure_info"]``) decides its column:
    which value is best (``better``: a measure of undeclared direction has no best), its digits (tokens 1,
    counts 0; ``digits`` sets the others) and the note on verbose answers.
    """

    def __init__(self, table: pd.DataFrame, significance: pd.DataFrame, provenance: dict[str, Any],
                 per_query: pd.DataFrame | None = None, folder: Path | None = None):
        self.table = table
        self.significance = significance
        self.provenance = provenance
        self._per_query = per_query
        self.folder = folder  # the results folder, when loaded from one (plots are looked up there)
        self._sig: dict[tuple[str, str], pd.Series] | None = None

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        folder = Path(folder)
        results = folder / "results.csv"
        if not results.exists():
            raise InputError("not a results folder (no results.csv)", path=folder)
        table = read_table(results).set_index("system")
        sig_path = folder / "significance.csv"
        sig = read_table(sig_path, ("system", "measure")) if sig_path.exists() and sig_path.stat().st_size > 1 \
            else pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"])
        prov_path = folder / "provenance.json"
        provenance = read_json(prov_path) if prov_path.exists() else {}
        if not isinstance(provenance, dict):
            raise InputError("provenance must be a JSON object", path=prov_path)
        return cls(table, sig, provenance, None, folder)

    @property
    def per_query(self) -> pd.DataFrame | None:
        """The per-query values (``per_query.csv`` of the folder, read when first needed)."""
        if self._per_query is None and self.folder is not None and (self.folder / "per_query.csv").exists():
            self._per_query = read_table(self.folder / "per_query.csv", ("system", "qid", "measure", "value"))
        return self._per_query

    # ------------------------------------------------------------------ helpers
    @property
    def baseline(self) -> str | None:
        return self.provenance.get("baseline")

    def info(self, measure: str) -> dict[str, Any]:
        return (self.provenance.get("measure_info") or {}).get(measure, {})

    def kind(self, measure: str) -> str:
        return str(self.info(measure).get("kind", "measure"))

    def direction(self, measure: str) -> str | None:
        """``"higher"`` or ``"lower"`` as the measure declared it; None when it declared neither (no best is
        marked). Tables written without measure information (ragif < 0.2) are read by the measure's name."""
        info = self.info(measure)
        if info.get("better") in ("higher", "lower"):
            return info["better"]
        if "better" in info:
            return None
        if "lower_is_better" in info:
            return "lower" if info["lower_is_better"] else "higher"
        if self.provenance.get("measure_info"):
            return None
        return "lower" if lower_is_better(measure) else "higher"

    def lower_is_better(self, measure: str) -> bool:
        return self.direction(measure) == "lower"

    def digits(self, measure: str, digits: Digits = None) -> int:
        """Decimals of ``measure``: ``digits[measure]``, else what the measure declared, else ``digits["*"]``."""
        chosen = parse_digits(digits)
        if measure in chosen:
            return chosen[measure]
        declared = self.info(measure).get("digits")
        return int(declared) if isinstance(declared, int) and not isinstance(declared, bool) else chosen["*"]

    def fmt(self, value: float, measure: str, digits: Digits = None) -> str:
        return f"{value:.{self.digits(measure, digits)}f}"

    def note(self, system: str, measure: str) -> str | None:
        """Why a cell is empty, or why fewer questions than the dataset's were scored (None when neither)."""
        return (self.provenance.get("not_applicable") or {}).get(system, {}).get(measure)

    def notes(self) -> list[dict[str, str]]:
        """Every note of the table, in row and column order (empty and partial cells, untested cells)."""
        out = []
        for s in self.table.index:
            for m in self.table.columns:
                if text := self.note(s, m):
                    out.append({"system": s, "measure": m, "text": text})
                elif self.untested(s, m):
                    out.append({"system": s, "measure": m, "text": f"not tested for significance: the values are "
                                                                  f"constant within {s} or {self.baseline}"})
        return out

    def scored(self, measure: str) -> list[int]:
        """How many questions ``measure`` scored, per system that has values (n)."""
        n = self.provenance.get("n") or {}
        return [int(n[s][measure]) for s in self.table.index if measure in n.get(s, {})]

    def n_line(self) -> str | None:
        """``n (questions scored): nDCG@10 14; R@3 7-14; ...`` when the folder records n per measure."""
        parts = []
        for m in self.table.columns:
            counts = self.scored(m)
            if counts:
                low, high = min(counts), max(counts)
                parts.append(f"{m} {low}" if low == high else f"{m} {low}–{high}")
        return "n (questions scored): " + "; ".join(parts) if parts else None

    def verbose_note(self) -> str | None:
        """Which correctness measures suit verbose answers (Adlakha et al., 2024), when the table has one
        that does not; with the systems where the two disagree most."""
        correctness = [m for m in self.table.columns if self.kind(m) == "correctness"]
        short = [m for m in correctness if self.info(m).get("suits_verbose_answers") is False
                 or ("suits_verbose_answers" not in self.info(m) and m in _SHORT_ANSWER_MEASURES)]
        suited = [m for m in correctness if self.info(m).get("suits_verbose_answers") is True]
        if not short:
            return None
        text = f"{_listed(short)} penalise{'s' if len(short) == 1 else ''} answers longer than the gold answer; "
        text += (f"{_listed(suited)} suit{'s' if len(suited) == 1 else ''} verbose answers" if suited else
                 "for verbose answers add Recall or LLM-Eval") + " (Adlakha et al., 2024)"
        if suited:
            gap = (self.table[suited].max(axis=1) - self.table[short].min(axis=1)).dropna()
            if len(gap) and gap.max() > 0.2:
                s = gap.idxmax()
                lo = min(short, key=lambda m: self.table.loc[s, m])
                hi = max(suited, key=lambda m: self.table.loc[s, m])
                text += (f"; e.g. {s}: {lo} {self.fmt(self.table.loc[s, lo], lo)}, "
                         f"{hi} {self.fmt(self.table.loc[s, hi], hi)}")
        return text + "."

    def best(self, measure: str) -> float:
        col = self.table[measure]
        return col.min() if self.lower_is_better(measure) else col.max()

    def is_best(self, system: str, measure: str, digits: Digits = None) -> bool:
        """Whether ``system`` has the best value of ``measure`` (ties included; compared after rounding to the
        measure's digits, so that two printed values that look equal are both marked). Never for a measure
        whose direction is not declared."""
        value = self.table.loc[system, measure]
        if pd.isna(value) or self.direction(measure) is None:
            return False
        best = self.best(measure)
        places = self.digits(measure, digits)
        return round(float(value), places) == round(float(best), places)

    def sig_row(self, system: str, measure: str) -> pd.Series | None:
        if self._sig is None:
            self._sig = {} if self.significance.empty else {
                (str(r["system"]), str(r["measure"])): r for _, r in self.significance.iterrows()}
        return self._sig.get((system, measure))

    def is_significant(self, system: str, measure: str) -> bool:
        row = self.sig_row(system, measure)
        return bool(row is not None and str(row["significant"]).lower() == "true")

    def untested(self, system: str, measure: str) -> bool:
        """Whether the pair was left untested (a measure constant within the system or the baseline)."""
        row = self.sig_row(system, measure)
        return row is not None and "tested" in row.index and str(row["tested"]).lower() == "false"

    def delta(self, system: str, measure: str) -> float | None:
        """Mean difference from the baseline (paired over the queries both have), when tested."""
        row = self.sig_row(system, measure)
        if row is None or pd.isna(row.get("delta")):
            return None
        return float(row["delta"])

    def describe(self, system: str) -> str:
        """The pipeline behind ``system`` as recorded in the provenance (empty when unknown)."""
        return str(self.provenance.get("pipelines", {}).get(system, ""))

    def legend(self) -> list[str]:
        """The lines under a table: best and direction, n per measure, the verbose-answers note."""
        measures = list(self.table.columns)
        undeclared = [m for m in measures if self.direction(m) is None]
        first = "Best value per column in **bold**" + ("; ↓ = lower is better" if any(
            self.lower_is_better(m) for m in measures) else "") + (
            f"; no best marked for {', '.join(undeclared)} (direction not declared)" if undeclared else "") + "."
        return [first, *filter(None, [self.n_line(), self.verbose_note()])]

    def provenance_lines(self) -> list[str]:
        p = self.provenance
        versions = p.get("versions", {})
        shown = ", ".join(f"{k} {v}" for k, v in versions.items()
                          if k in ("ragif", "python", "pyserini", "ir-measures", "torch", "pandas"))
        git = p.get("git", {}) or {}
        commit = (git.get("commit") or "unknown")[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
        ds = p.get("dataset", {})
        sig = p.get("significance", {})
        return [
            f"experiment {p.get('experiment', '?')}; dataset {ds.get('name', '?')} ({ds.get('split', '?')}, "
            f"{ds.get('queries', '?')} queries)",
            f"{MARK}: significantly different from the baseline ({self.baseline}), {sig.get('test', 't-test')}, "
            f"{sig.get('correction', 'holm')} correction, alpha {sig.get('alpha', 0.05)}; not tested where a "
            f"measure is constant within a system",
            f"config hash {p.get('config_hash', '?')}; seed {p.get('seed', '?')}; commit {commit}; "
            f"first computed {p.get('date', '?')}",
            f"versions: {shown}",
        ] + self._model_lines()

    def _model_lines(self) -> list[str]:
        """Which model computed each model-based measure (BERTScore, NLI, LLM judges; METEOR's stages)."""
        details = []
        for measure, info in (self.provenance.get("measure_info") or {}).items():
            extra = {k: v for k, v in info.items() if k not in _DECLARED_KEYS}
            if extra:
                details.append(f"{measure}: " + ", ".join(f"{k} {v}" for k, v in extra.items()))
        return [f"models: {'; '.join(details)}"] if details else []

    def plot_files(self) -> list[Path]:
        """The plots written next to the tables (``*.png`` with an ``.svg`` twin), in name order."""
        if self.folder is None:
            return []
        found = sorted(p for p in self.folder.glob("*.png") if p.with_suffix(".svg").exists())
        order = {f"deltas-{file_stem(m)}": i for i, m in enumerate(self.table.columns)}  # measure order first
        return sorted(found, key=lambda p: (order.get(p.stem, len(order)), p.name))


_DECLARED_KEYS = ("kind", "lower_is_better", "better", "digits", "suits_verbose_answers")
