"""Context refiners between ranking and reader: extractive compression (``compress``) and token pruning by
surprisal (``prune``). Each keeps the ranking's rows (one per passage kept, ``text`` refined) and records the
context's size before and after in ``refiner_tokens_in`` / ``refiner_tokens_out`` (per question)."""
