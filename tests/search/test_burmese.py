"""Burmese for search: syllable segmentation on real sentences, NFC, Zawgyi detection and
conversion, and the terms index and query share."""

from __future__ import annotations

import unicodedata

import pytest

from casefile.logic.search import burmese, terms


@pytest.mark.parametrize(
    ("sentence", "syllables"),
    [
        # "The army burned the village": the example.
        ("စစ်တပ်ကရွာကိုမီးရှို့ခဲ့သည်", "စစ် တပ် က ရွာ ကို မီး ရှို့ ခဲ့ သည်"),
        # Kinzi (င်္) stays with its syllable; stacked consonants (္) stay together.
        ("မင်္ဂလာပါ", "မင်္ဂ လာ ပါ"),
        ("ပြည်ထောင်စုသမ္မတမြန်မာနိုင်ငံတော်", "ပြည် ထောင် စု သမ္မ တ မြန် မာ နိုင် ငံ တော်"),
        # Medials (ျ ြ ွ ှ) and vowel signs attach to their consonant.
        ("ကျောင်းသားများ", "ကျောင်း သား များ"),
        ("ရခိုင်ပြည်နယ်", "ရ ခိုင် ပြည် နယ်"),
        # Independent vowels start a syllable; Burmese digits stand alone.
        ("ဦးအောင်", "ဦး အောင်"),
        ("၂၀၁၇ ခုနှစ်", "၂ ၀ ၁ ၇ ခု နှစ်"),  # noqa: RUF001 - Burmese digits on purpose
        # A sentence mark (။) is its own piece; Latin text passes through.
        ("Tula Toli ရွာ။", "Tula Toli ရွာ ။"),
    ],
)
def test_segmentation_of_real_sentences(sentence, syllables):
    assert burmese.segment(sentence) == syllables


def test_a_word_is_found_inside_a_sentence_as_syllables_in_a_row():
    sentence = terms.terms("စစ်တပ်ကရွာကိုမီးရှို့ခဲ့သည်")
    [phrase] = terms.query_phrases("မီးရှို့")
    assert phrase == ["မီး", "ရှို့"]
    starts = [i for i in range(len(sentence)) if sentence[i : i + len(phrase)] == phrase]
    assert starts == [5]


def test_nfc_makes_differently_typed_text_equal():
    composed = "café ရှို့"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert terms.terms(decomposed) == terms.terms(composed)


def test_zawgyi_is_detected_and_converted_to_unicode():
    zawgyi = "ေက်ာင္းသား"  # "student", typed in Zawgyi
    unicode = "ကျောင်းသား"
    assert burmese.is_zawgyi(zawgyi)
    assert not burmese.is_zawgyi(unicode)
    assert not burmese.is_zawgyi("no Burmese here")
    assert burmese.to_unicode(zawgyi) == unicode


def test_operators_and_punctuation_are_separators_only():
    assert terms.query_phrases('"burned" AND NEAR(village, 3) -army ^x* a:b &|!()') == [
        ["burned"], ["and"], ["near"], ["village"], ["3"], ["army"], ["x"], ["a"], ["b"],
    ]
    assert terms.query_phrases('"*:&|!()-^') == []


def test_encoded_terms_are_plain_ascii_words():
    for term in ["village", "မီး", "café", "3"]:
        encoded = terms.encode(term)
        assert encoded.isascii() and encoded.isalnum() and encoded[0] in "wu"
