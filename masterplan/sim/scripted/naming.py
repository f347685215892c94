"""Nouns from a request, and the names code is built from."""

from __future__ import annotations

import re

_STOPWORD_TEXT = """
    a an the and or but nor for with without from into onto of to in on at by as is are be been being was were it its
    this that these those there their them they we our us you your i me my he she his her who whom which what when where
    why how all any each every some many much more most few less least other another such same own only just also very
    can could should would will shall may might must do does did done doing have has had having make makes made making
    build builds building create creates creating write writes manage manages managing management track tracks tracking
    keep keeps allow allows let lets support supports need needs want wants use uses using provide provides handle
    simple small basic new old good best full easy able small large big first last next via per about over under
    system systems app apps application applications service services tool tools platform software program project
    api rest http web data database backend frontend python code module modules package feature features way ways
    list lists view views add adds remove removes update updates delete deletes get gets set sets show shows find finds
    include includes including like so than then thing things something anything everything one two three etc
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[A-Za-z][A-Za-z]+")

FALLBACK_NOUNS = (
    "item", "category", "owner", "tag", "note", "location", "schedule", "invoice", "payment", "supplier",
    "review", "comment", "attachment", "notification", "team", "contact", "address", "budget", "milestone", "ticket",
)  # fmt: skip


def singular(word: str) -> str:
    lower = word.lower()
    if lower.endswith("ies") and len(lower) > 4:
        return lower[:-3] + "y"
    if lower.endswith(("sses", "ches", "shes", "xes")):
        return lower[:-2]
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")) and len(lower) > 3:
        return lower[:-1]
    return lower


def request_nouns(text: str, limit: int = 8) -> list[str]:
    """Likely domain nouns of a request, singular and lower case, in order of first appearance."""
    nouns: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word.lower() in _STOPWORDS or len(word) < 3 or word.lower().endswith(("ly", "ing", "ed")):
            continue
        noun = singular(word)
        if noun in _STOPWORDS or noun in nouns:
            continue
        nouns.append(noun)
        if len(nouns) == limit:
            break
    return nouns


def padded_nouns(nouns: list[str], count: int) -> list[str]:
    """``nouns`` extended with fallback nouns up to ``count``."""
    result = list(nouns)
    for noun in FALLBACK_NOUNS:
        if len(result) >= count:
            break
        if noun not in result:
            result.append(noun)
    index = 2
    while len(result) < count:
        result.append(f"{FALLBACK_NOUNS[len(result) % len(FALLBACK_NOUNS)]}{index}")
        index += 1
    return result


def pascal(name: str) -> str:
    parts = re.findall(r"[A-Za-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name))
    result = "".join(part[:1].upper() + part[1:].lower() for part in parts) or "Item"
    return result if result[0].isalpha() else "E" + result


def snake(name: str) -> str:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    result = "_".join(re.findall(r"[A-Za-z0-9]+", spaced)).lower() or "item"
    return result if result[0].isalpha() else "e_" + result


def title_words(name: str) -> str:
    return snake(name).replace("_", " ")
