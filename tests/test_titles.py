"""Title normalisation for matching by title: what Plex's scanner and people
type against what Stash stores."""

import pytest

from s2p.match.titles import fallback_word, normalise, search_text, similarity


@pytest.mark.parametrize("raw, expected", [
    ("Don't Stop", "dont stop"),
    ("Don’t Stop", "dont stop"),            # typographic apostrophe
    ("«Don`t» „Stop“", "dont stop"),        # quotes of every kind
    ("Café Crème", "cafe creme"),           # accents
    ("Cafe\u0301 Cre\u0300me", "cafe creme"),  # the same in NFD
    ("Søren & Æsa", "soren and aesa"),      # letters NFKD does not decompose
    ("Office.Affair.2160p.WEB-DL.x265", "office affair"),  # release tags, dots
    ("Office_Affair_1080p.mp4", "office affair"),          # underscores, extension
    ("Office Affair (2023) [4K]", "office affair"),        # year and tag in brackets
    ("HEVC", ""),
])
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_release_tags_inside_words_are_kept():
    # "hd" and "sd" are tags as words, not inside "Shdow" or "Hdden".
    assert normalise("Shdow Hdden") == "shdow hdden"


def test_similarity_ignores_everything_normalise_drops():
    assert similarity("Dont Stop", "Don’t Stop") == 1.0
    assert similarity("cafe creme 1080p", "Café Crème") == 1.0


def test_similarity_orders_closer_titles_higher():
    base = "Harbour Nights Part 1"
    assert similarity(base, "Harbour Nights Part 2") > similarity(base, "Harbour Days") > similarity(base, "Xyz")


def test_part_of_a_title_is_close_but_never_identical():
    assert 0.75 <= similarity("Harbour Nights", "Harbour Nights Part 1") < 1.0
    assert similarity("b a", "a b") < 1.0


def test_search_text_keeps_accents_and_drops_tags_and_quotes():
    # Stash compares as stored: accents stay, the apostrophe's longest piece stays.
    assert search_text("Café.Crème.1080p.mp4") == "Café Crème"
    assert search_text("Don’t Stop (2022)") == "Don Stop"
    assert search_text("-Negated [XXX]") == "Negated"  # a leading '-' would mean "not" to Stash
    assert search_text("1080p.x265") == ""


def test_fallback_word_is_the_longest_plain_word():
    assert fallback_word("Café Crème Brûlée Deluxe") == "Deluxe"
    assert fallback_word("2021 日本の夏") is None
