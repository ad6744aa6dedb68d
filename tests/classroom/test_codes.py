"""Join codes, teacher secrets and names: made unguessable, read back only when well formed."""

import pytest

from explorer.classroom import codes


def test_codes_use_the_unambiguous_alphabet_and_differ():
    made = {codes.new_code() for _ in range(200)}
    assert len(made) == 200
    for code in made:
        assert len(code) == 6 and set(code) <= set(codes.ALPHABET)
    assert not set("0O1IL") & set(codes.ALPHABET)
    assert len(codes.ALPHABET) ** codes.CODE_LENGTH > 800_000_000  # hard to guess


@pytest.mark.parametrize("typed, code", [
    ("K7MQ2P", "K7MQ2P"), ("k7m-q2p", "K7MQ2P"), (" K7M Q2P ", "K7MQ2P"),
    ("K7MQ2", None), ("K7MQ2PX", None), ("K0MQ2P", None), ("K7MQ2P\n", None), ("<b>x</b>", None),
    ("A" * 5000, None), ("", None), (None, None), (["K7MQ2P"], None), ("K７MQ2P", None),
])
def test_a_code_from_an_address_is_normalized_or_refused(typed, code):
    assert codes.normalize_code(typed) == code


def test_secrets_are_long_url_safe_and_kept_only_as_a_hash():
    secret = codes.new_secret()
    assert codes.valid_secret(secret) == secret and len(secret) == 32
    stored = codes.secret_hash(secret)
    assert secret not in stored and codes.secret_matches(secret, stored)
    assert not codes.secret_matches(codes.new_secret(), stored)
    for bad in ("short", "x" * 65, secret[:-1] + "!", secret + "<", None, 12345678901234567890):
        assert codes.valid_secret(bad) is None


@pytest.mark.parametrize("typed, shown", [
    ("  Ms   Rivera ", "Ms Rivera"), ("", codes.DEFAULT_NAME), (None, codes.DEFAULT_NAME),
    ("a\u202eb\nc\x00d", "a b c d"), ("x" * 100, "x" * codes.MAX_NAME),
    ("[click](http://evil) <b>", "[click](http://evil) <b>"),  # kept as typed: the page shows it literally
])
def test_names_are_printable_short_and_never_empty(typed, shown):
    assert codes.clean_name(typed) == shown
