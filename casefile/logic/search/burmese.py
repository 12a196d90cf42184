"""Burmese text for search: Unicode normalisation, syllable segmentation, and Zawgyi.

Burmese is written without spaces between words, so a word cannot be found by splitting on
spaces: `မီးရှို့` ("set fire") sits inside `စစ်တပ်ကရွာကိုမီးရှို့ခဲ့သည်` with nothing around it.
Both the index and the query are cut into syllables, and a word is found as its syllables in a
row (a phrase), which is how Burmese search engines commonly work around the missing word
boundaries.

Syllable breaking follows the regular-expression approach of Ye Kyaw Thu's `sylbreak`
(https://github.com/ye-kyaw-thu/sylbreak, "Syllable segmentation tool for Myanmar language",
2016): a syllable starts at a consonant unless that consonant is stacked under the one before
it (preceded by the virama U+1039) or closes the syllable before it (followed by the asat
U+103A, or by the virama as the upper half of a stack, as in kinzi `င်္`); independent vowels,
digits, Burmese punctuation and other scripts start a syllable of their own. Written here
from that rule; the tests check it on real sentences.

Zawgyi is the legacy font encoding in which much Burmese text from before 2019 (and from
many phones since) is written: it reuses Burmese code points for glyphs, so Unicode text and
Zawgyi text of the same words differ byte for byte. Google's `myanmartools` tells the two apart
(a Markov model; Apache 2.0), and ICU's `Zawgyi-my` transliterator (through PyICU; the
conversion Google's Myanmar Tools recommend, maintained in ICU's CLDR transforms) converts
Zawgyi to Unicode, so a Unicode query finds the Zawgyi text."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
import warnings
from collections.abc import Iterable
from typing import Any

# The Myanmar block and its extensions (Extended-A, Extended-B).
MYANMAR = "\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff"
_CONSONANT = "\u1000-\u1021"  # က..အ
_ASAT, _VIRAMA = "\u103a", "\u1039"
# Characters that stand as a syllable of their own, or start one: independent vowels
# (ဣ ဤ ဥ ဦ ဧ ဩ ဪ), the great sa ဿ, Burmese digits and punctuation (၊ ။ ၌ ၍ ၎ ၏).
_OTHER = "\u1023-\u102a\u103f\u1040-\u104f"
# sylbreak's rule: break before a consonant that is neither stacked (after a virama) nor the
# final of the syllable before (followed by asat or virama), and before every other starter.
_BREAK = re.compile(rf"(?<!{_VIRAMA})[{_CONSONANT}](?![{_ASAT}{_VIRAMA}])|[{_OTHER}]")
_RUN = re.compile(rf"[{MYANMAR}]+")
ZAWGYI_THRESHOLD = 0.95  # myanmartools' documented threshold for "this is Zawgyi"


def normalise(text: str) -> str:
    """NFC: the same Burmese text typed on different keyboards compares equal."""
    return unicodedata.normalize("NFC", text)


def is_burmese(char: str) -> bool:
    return bool(_RUN.fullmatch(char))


def syllables(run: str) -> list[str]:
    """A run of Burmese text cut into syllables (no spaces in it; see the module's note)."""
    starts = [match.start() for match in _BREAK.finditer(run)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = [*starts, len(run)]
    return [run[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def segment(text: str) -> str:
    """Text with a space between Burmese syllables (for reading and tests)."""
    return _RUN.sub(lambda match: " ".join(syllables(match.group())), normalise(text))


# --- Zawgyi -----------------------------------------------------------------------------------


@functools.cache
def _detector() -> Any:
    from myanmartools import ZawgyiDetector  # noqa: PLC0415 - loads its model once, on use

    with warnings.catch_warnings():
        # myanmartools 1.2.1 reads its model with importlib.resources.open_binary, deprecated
        # since Python 3.11 but still there (the warning says nothing about the model read).
        warnings.simplefilter("ignore", DeprecationWarning)
        return ZawgyiDetector()


@functools.cache
def _converter() -> Any:
    from icu import Transliterator  # noqa: PLC0415

    return Transliterator.createInstance("Zawgyi-my")


def zawgyi_probability(text: str) -> float:
    """How likely the Burmese in `text` is Zawgyi-encoded (0 without Burmese)."""
    if not _RUN.search(text):
        return 0.0
    return float(_detector().get_zawgyi_probability(text))


def is_zawgyi(text: str) -> bool:
    return zawgyi_probability(text) >= ZAWGYI_THRESHOLD


def any_zawgyi(texts: Iterable[str]) -> bool:
    return any(is_zawgyi(text) for text in texts)


def to_unicode(text: str) -> str:
    """Zawgyi text converted to Unicode (ICU's Zawgyi-my), NFC-normalised."""
    return normalise(str(_converter().transliterate(text)))
