"""ui.guess: how close a guess is, in words (the numbers checked by hand: they are differences and shares)."""

from ui.guess import Answer, class_closeness, closeness


def test_number_guesses_say_how_far_off_they_are():
    assert closeness(5, 5) == "exactly right"
    assert closeness(6, 5) == "1 too high (20% off)"
    assert closeness(200, 225) == "25 too low (11% off)"
    assert closeness(3, 0) == "3 too high"  # no share of nothing
    assert closeness(0.5, 0.25) == "0.25 too high (100% off)"
    assert closeness(1_000_000_000, 921_601_000) == "78,399,000 too high (9% off)"


def test_class_guesses_say_where_the_model_ranks_them():
    answer = Answer("top-1 class", "tiger cat", (("tiger cat", 0.4), ("tabby", 0.3), ("Egyptian cat", 0.1)))
    assert class_closeness("tiger cat", answer) == "exactly right"
    assert class_closeness("tabby", answer) == "not its first choice, but its guess number 2 (30.0%, against 40.0%)"
    assert class_closeness("goldfish", answer) == "not among its top 3"
