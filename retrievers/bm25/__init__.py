"""BM25 in process, with Lucene's analysis and scores and no JVM: the stage (:mod:`retrievers.bm25.fast`),
its analyzer, index, search and the compiled kernels, Unicode tables and tokenizer behind them."""
