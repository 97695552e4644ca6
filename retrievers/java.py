"""Java for Lucene now lives in :mod:`rag.core.java` (data sets read Lucene indexes too); this module keeps the
old import path working."""
from rag.core.java import (DROPPED_OPTIONS, HEAP_ENV, JavaError, autoclass, configure, info, java_home,  # noqa: F401
                           jvm_options, placeholder_openai_key)
