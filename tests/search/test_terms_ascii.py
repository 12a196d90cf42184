"""Text with no character beyond ASCII is cut into terms by a regular expression, not a loop
over its characters: the terms must be those the general rule gives (runs of letters,
combining marks and digits, folded), for every ASCII character."""

from __future__ import annotations

import random
import unicodedata

from casefile.logic.search import terms


def general_rule(text: str) -> list[str]:
    """The per-character rule of `terms.words`, as written for any script."""
    found, word = [], []
    for char in terms.fold(text) + " ":
        if unicodedata.category(char)[0] in terms.WORD_CATEGORIES:
            word.append(char)
        elif word:
            found.append("".join(word))
            word = []
    return found


def test_every_ascii_character_splits_or_joins_words_as_the_general_rule():
    every = "".join(chr(code) for code in range(128))
    assert list(terms.words(every)) == general_rule(every)
    state = random.Random(9)
    for _ in range(2000):
        text = "".join(chr(state.randrange(128)) for _ in range(state.randrange(60)))
        assert list(terms.words(text)) == general_rule(text), text
        assert terms.terms(text) == [
            term for word in general_rule(text) for term in terms.word_terms(word)
        ], text


def test_long_ascii_words_are_cut_as_any_other():
    text = "IMG_0001.JPG " + "A" * 200 + " x"
    assert terms.terms(text) == ["img", "0001", "jpg", "a" * terms.MAX_TERM, "x"]
    assert terms.body([text]) == "wimg w0001 wjpg w" + "a" * terms.MAX_TERM + " wx"
