"""Exchange stages with other frameworks: :mod:`rag.interop.pyterrier` (``pip install 'ragif[pyterrier]'``)."""
