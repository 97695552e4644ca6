"""Query rewriting before retrieval or reading: Rephrase-and-Respond (RaR), HyDE and multi-query with fusion.

Column contract (every rewriting stage): ``query`` is what the next stage reads; a stage that rewrites it keeps
the question as asked in ``original_query`` (set once: a second rewriter keeps the first original) and
``original-query`` puts it back (e.g. between a rewritten retrieval and the reader, which should answer the
question as asked).
"""
