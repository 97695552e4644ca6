"""LLM-judged answer measures of issue 32 (TICK, Meta Ranking, HREF), their sampling and bootstrap intervals
(:mod:`.variance`), and the cost measures of active readers and refiners (:mod:`.cost`)."""
