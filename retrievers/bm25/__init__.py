"""In-process BM25 internals: Unicode tables, a compiled tokenizer, the index builder and the search kernels."""
