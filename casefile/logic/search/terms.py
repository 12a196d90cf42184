"""Text to search terms, the same way for the index and for a query.

Text is NFC-normalised and case-folded, then split into words on anything that is not a
letter, a combining mark or a digit (Burmese vowel signs and the asat are marks: splitting
on Python's `\\W` would cut syllables apart). A word's Burmese runs are cut into syllables
(`burmese.syllables`); each syllable, and each word of another script, is a term.

A query is a list of phrases, one per word of the query, each the terms of that word in a
row: `မီးရှို့` is the phrase `မီး ရှို့`, found inside a sentence as two syllables in a row;
`burned village` is two phrases of one term each, both required. Operators and punctuation
(`"`, `*`, `NEAR(`, `:`, `&|!()`, `-`, `^`) are not letters: they separate words and are
otherwise ignored, so they never reach a search engine's query syntax.

The engines are given terms in a form of their own (`encode`): ASCII letters and digits as
they are, after the letter `w`; anything else as `u` and the hex of its UTF-8. Both FTS5's
tokenizer and PostgreSQL's text parser then see plain ASCII words and nothing else: neither
needs to know Burmese (FTS5's unicode61 splits at combining marks; PostgreSQL's parser
classifies letters by the database's locale), and no term can be read as query syntax."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from casefile.logic.search import burmese

WORD_CATEGORIES = frozenset("LMN")  # letters, marks, numbers
MAX_TERM = 60  # characters: longer "words" (a hash, base64) are cut; both sides the same
MAX_QUERY_WORDS = 12
SEPARATOR = " x "  # between the texts of a body: a term no query produces ("x" encodes as "wx")
_ASCII_WORD = re.compile(r"[a-z0-9]+")
_BURMESE_RUN = re.compile(rf"([{burmese.MYANMAR}]+)")


def fold(text: str) -> str:
    return burmese.normalise(text).casefold()


def words(text: str) -> Iterator[str]:
    """Runs of letters, combining marks and digits, folded."""
    if text.isascii():  # the same runs, found by a regular expression instead of a loop
        yield from _ASCII_WORD.findall(text.lower())
        return
    word: list[str] = []
    for char in fold(text):
        if unicodedata.category(char)[0] in WORD_CATEGORIES:
            word.append(char)
        elif word:
            yield "".join(word)
            word = []
    if word:
        yield "".join(word)


def word_terms(word: str) -> list[str]:
    """One word's terms: its Burmese runs as syllables, the rest as they are."""
    found: list[str] = []
    for part in _BURMESE_RUN.split(word):
        if not part:
            continue
        if _BURMESE_RUN.fullmatch(part):
            found.extend(syllable[:MAX_TERM] for syllable in burmese.syllables(part))
        else:
            found.append(part[:MAX_TERM])
    return found


def terms(text: str) -> list[str]:
    """Every term of a text, in order."""
    if text.isascii():  # no Burmese: each word is one term
        return [word[:MAX_TERM] for word in _ASCII_WORD.findall(text.lower())]
    return [term for word in words(text) for term in word_terms(word)]


def query_phrases(text: str) -> list[list[str]]:
    """A query as phrases (one per word, at most MAX_QUERY_WORDS), without repeats."""
    phrases: list[list[str]] = []
    for word in words(text):
        phrase = word_terms(word)
        if phrase and phrase not in phrases:
            phrases.append(phrase)
        if len(phrases) == MAX_QUERY_WORDS:
            break
    return phrases


def encode(term: str) -> str:
    if _ASCII_WORD.fullmatch(term):
        return "w" + term
    return "u" + term.encode("utf-8").hex()


def body(texts: Iterable[str]) -> str:
    """What the engines index for a document: its terms, encoded, space-separated. Texts are
    kept apart by a term no query can produce, so no phrase spans two fields."""
    return SEPARATOR.join(" ".join(encode(term) for term in terms(text)) for text in texts if text)
