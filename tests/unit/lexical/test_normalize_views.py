"""Normalisation: invisible characters, homoglyphs, leetspeak, separators and offset maps."""

from __future__ import annotations

import pytest

from shared.core.normalize import clean, normalize
from shared.core.obfuscation import collapse_separators, leet_fold, matching_views

ZWSP = "\u200b"
CYRILLIC_PAYPAL = "\u0440\u0430\u0443\u0440\u0430l"  # er, a, u, er, a (Cyrillic) + Latin l
ALL_CYRILLIC_PAYPAL = "\u0440\u0430\u0443\u0440\u0430\u04cf"  # ... + palochka


def views(text: str) -> list[str]:
    return [v.text for v in matching_views(text)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"k{ZWSP}i\u200dl\u2060l", "kill"),
        ("ki\u00adll\ufeff", "kill"),
        ("kill\ufe0f", "kill"),
        ("\uff2b\uff29\uff2c\uff2c", "kill"),  # fullwidth
        ("\U0001d424\U0001d422\U0001d425\U0001d425", "kill"),  # mathematical bold
        (CYRILLIC_PAYPAL, "paypal"),
        (ALL_CYRILLIC_PAYPAL, "paypal"),
        ("\u0412\u0410D", "bad"),  # Cyrillic capital VE and A with a Latin D
        ("\u1d0b\u026a\u029f\u029f", "kill"),  # small capitals
        ("k\u0336i\u0336l\u0336l\u0336", "kill"),  # strike-through combining marks
        ("Stra\u00dfe", "strasse"),
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # decomposed accent composes
    ],
)
def test_canonical_view(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_real_cyrillic_and_greek_words_keep_their_script() -> None:
    russian = "\u0440\u0443\u043a\u0430 \u043d\u0435\u0442"  # "hand", "no"
    greek = "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1"
    assert normalize(russian).text == russian
    assert normalize(greek).text == greek.casefold()


def test_leet_view_folds_words_but_not_numbers() -> None:
    assert "kill" in views("k1ll")
    assert "lame" in views("1ame")
    assert "ass" in views("@ss")
    assert "ass" in views("a$$")
    assert "shit" in views("sh!t")
    assert views("I have 3 apples and 1000 dollars") == ["i have 3 apples and 1000 dollars"]
    assert views("Galaxy A55 costs $500") == ["galaxy a55 costs $500"]


def test_trailing_exclamation_is_not_a_letter() -> None:
    folded = leet_fold(normalize("hi! k1ll!"))
    assert folded.text == "hi! kill!"


def test_diacritics_fold_only_in_leet_view() -> None:
    assert normalize("k\u00edll").text == "k\u00edll"
    assert "kill" in views("k\u00edll")
    assert "kill" in views("k\u0131ll")  # dotless i


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("k.i.l.l", "kill"), ("b a d", "bad"), ("K - I - L - L now", "kill now"), ("a_s_s", "ass")],
)
def test_separator_runs_collapse(raw: str, expected: str) -> None:
    assert collapse_separators(normalize(raw)).text == expected


@pytest.mark.parametrize("raw", ["a b", "U.S. policy", "i am a cat", "1.5 kg", "e.g. this"])
def test_short_or_multi_letter_runs_do_not_collapse(raw: str) -> None:
    assert collapse_separators(normalize(raw)).text == normalize(raw).text


def test_offsets_map_back_through_invisibles_and_expansion() -> None:
    raw = f"say k{ZWSP}{ZWSP}ill \ufb01ne Stra\u00dfe"
    view = normalize(raw)
    start = view.text.index("kill")
    assert view.to_original(start, start + 4) == (4, 10)
    assert raw[slice(*view.to_original(start, start + 4))].replace(ZWSP, "") == "kill"
    fi = view.text.index("fine")
    assert view.to_original(fi, fi + 1) == (11, 12)  # "f" of the "fi" ligature
    ss = view.text.index("strasse")
    assert raw[slice(*view.to_original(ss, ss + 7))] == "Stra\u00dfe"


def test_collapsed_offsets_cover_the_spaced_word() -> None:
    raw = "you are b a d!"
    view = collapse_separators(normalize(raw))
    start = view.text.index("bad")
    assert raw[slice(*view.to_original(start, start + 3))] == "b a d"


def test_empty_spans_and_bounds() -> None:
    view = normalize("ab")
    assert view.to_original(2, 2) == (2, 2)
    assert view.to_original(0, 0) == (0, 0)
    with pytest.raises(ValueError, match="outside"):
        view.to_original(1, 3)


def test_clean_keeps_case_and_script() -> None:
    view = clean(f"Call {CYRILLIC_PAYPAL} \uff14\uff11{ZWSP}1")
    assert view.text == f"Call {CYRILLIC_PAYPAL} 411"
