"""Prompts of the rewriting methods, quoted from their code (METHODS.md §8-9), and their reply parsers."""
from __future__ import annotations

# Rephrase-and-Respond (uclaml/Rephrase-and-Respond@6d51020 main.py): GPT-4 and GPT-3.5 wordings
RAR_ONE_STEP = {"gpt-4": '"{question}"\nRephrase and expand the question, and respond. {spec}',
                "gpt-3.5": '"{question}"\nReword and elaborate on the inquiry, then provide an answer. {spec}'}
RAR_REPHRASE = ('"{question}"\nGiven the above question, rephrase and expand it to help you do better answering. '
                'Maintain all information in the original question.')
RAR_RESPOND = {"gpt-4": "(original) {question}\n(rephrased) {rephrased}\n{spec}Use your answer for the rephrased "
                        "question to answer the original question.",
               "gpt-3.5": "(original) {question}\n(revised) {rephrased}\n{spec}Use your answer in the revised "
                          "question to answer the original question."}
RAR_BASELINE = "{question}\n{spec}"

# HyDE (texttron/hyde@a2fd873 promptor.py), one instruction per task; {} is the query
HYDE_PROMPTS = {
    "web search": "Please write a passage to answer the question.\nQuestion: {}\nPassage:",
    "scifact": "Please write a scientific paper passage to support/refute the claim.\nClaim: {}\nPassage:",
    "arguana": "Please write a counter argument for the passage.\nPassage: {}\nCounter Argument:",
    "trec-covid": "Please write a scientific paper passage to answer the question.\nQuestion: {}\nPassage:",
    "fiqa": "Please write a financial article passage to answer the question.\nQuestion: {}\nPassage:",
    "dbpedia-entity": "Please write a passage to answer the question.\nQuestion: {}\nPassage:",
    "trec-news": "Please write a news passage about the topic.\nTopic: {}\nPassage:",
}

# LangChain MultiQueryRetriever's default prompt (langchain@01d81c7 multi_query.py), spacing kept
MULTI_QUERY = """You are an AI language model assistant. Your task is
    to generate 3 different versions of the given user
    question to retrieve relevant documents from a vector  database.
    By generating multiple perspectives on the user question,
    your goal is to help the user overcome some of the limitations
    of distance-based similarity search. Provide these alternative
    questions separated by newlines. Original question: {question}"""


def wording(style: str, table: dict[str, str]) -> str:
    """The prompt of ``style`` (``gpt-4`` or ``gpt-3.5``) from a table of wordings."""
    if style not in table:
        raise ValueError(f"unknown RaR wording {style!r}; use one of {sorted(table)}")
    return table[style]


def rar_one_step(question: str, spec: str = "", style: str = "gpt-4") -> str:
    """The one-step RaR prompt (the trailing space after "respond." is part of it)."""
    return wording(style, RAR_ONE_STEP).format(question=question, spec=spec)


def rar_rephrase(question: str) -> str:
    """Step 1 of two-step RaR: ask for a rephrased, expanded question."""
    return RAR_REPHRASE.format(question=question)


def rar_respond(question: str, rephrased: str, spec: str = "", style: str = "gpt-4") -> str:
    """Step 2 of two-step RaR: answer the original question through the rephrased one."""
    return wording(style, RAR_RESPOND).format(question=question, rephrased=rephrased, spec=spec)


def strip_quotes(reply: str) -> str:
    """RaR's post-processing of a rephrasing: surrounding double quotes go only when both are there."""
    text = (reply or "").strip()
    return text[1:-1] if len(text) >= 2 and text[0] == '"' and text[-1] == '"' else text


def parse_lines(reply: str) -> list[str]:
    """LangChain's parse of rewritten queries: split on newlines, drop empty lines (numbering kept)."""
    return [line for line in (reply or "").strip().split("\n") if line.strip()]
