"""Each ragif measure next to its reference implementation on the same items (instruct-qa, rouge-score, nltk,
mteb, scipy, statsmodels, scikit-learn, pytrec_eval): the cases that tests/test_oracles.py asserts and that
``experiments/parity_table.py`` and the benchmarks print. Reference packages are imported lazily; a case
builder raises ``ImportError`` when its package is not installed.

Test scaffolding, not part of the installed package: the tests import it as ``experiments.parity`` (pytest puts
the checkout on the path, ``pythonpath = ["."]``), the scripts as ``parity`` (``python experiments/x.py`` puts
``experiments/`` first on the path)."""
