"""Experiments: systems x dataset x measures -> one significance-tested results table; grids; reproductions.

>>> from rag.experiment import Experiment
"""
from __future__ import annotations

from rag.experiment.experiment import Experiment
from rag.experiment.results import ExperimentResults

__all__ = ["Experiment", "ExperimentResults"]
