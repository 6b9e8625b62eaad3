from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lib_stylemix.epochs import (
    format_weight,
    lora_tag,
    remove_lora_tags,
    reweight_last_lora,
    with_lora,
    with_loras,
)

names = st.text(alphabet="abcdefghij-_0123456789", min_size=1, max_size=12)
weights = st.floats(min_value=-2, max_value=2, allow_nan=False).map(lambda w: round(w, 3))
prompts = st.sampled_from(["a cat", "a cat, <lora:base:0.5>", "", "portrait,  <lora:x:1> of a dog"])


def test_format_weight():
    assert [format_weight(w) for w in (0.8, 1.0, 0.125, -0.0, 0.33333)] == ["0.8", "1", "0.125", "0", "0.3333"]


def test_tag_added_and_replaced_not_stacked():
    once = with_lora("a cat", "ink", 0.8)
    assert once == "a cat <lora:ink:0.8>"
    assert with_lora(once, "ink", 0.6) == "a cat <lora:ink:0.6>"
    assert with_lora("a <lora:other:1> cat", "ink", 1) == "a <lora:other:1> cat <lora:ink:1>"


def test_remove_tags_tidies_commas():
    assert remove_lora_tags("a cat, <lora:ink:0.5>, red") == "a cat, red"
    assert remove_lora_tags("<lora:a:1> <lyco:b:1> x", ["a"]) == "<lyco:b:1> x"


def test_prompt_stacking_of_two_loras():
    assert with_loras("a cat", [("a", 0.25), ("b", 0.75)]) == "a cat <lora:a:0.25> <lora:b:0.75>"


def test_bad_names_refused():
    for bad in ("", "a:b", "a>b"):
        with pytest.raises(ValueError):
            lora_tag(bad, 1)


def test_reweight_last_tag():
    assert reweight_last_lora("x <lora:a:1> <lora:b:1:0.5>", 0.3) == (
        "x <lora:a:1> <lora:b:0.3>",
        "<lora:b:1:0.5>",
        "<lora:b:0.3>",
    )
    assert reweight_last_lora("no tags", 0.3) is None


@given(prompt=prompts, name=names, first=weights, second=weights)
def test_reapplying_is_idempotent_and_last_weight_wins(prompt, name, first, second):
    twice = with_lora(with_lora(prompt, name, first), name, second)
    assert twice == with_lora(prompt, name, second)
    assert twice.count(f"<lora:{name}:") == 1


@given(prompt=prompts, a=names, b=names, wa=weights, wb=weights)
def test_stacking_depends_only_on_the_final_weights(prompt, a, b, wa, wb):
    assume(a != b)
    stepwise = with_lora(with_lora(with_lora(prompt, a, 0.1), b, wb), a, wa)
    assert remove_lora_tags(stepwise, [a, b]) == remove_lora_tags(prompt, [a, b])
    assert sorted(
        t for t in stepwise.split() if t.startswith("<lora:" + a + ":") or t.startswith("<lora:" + b + ":")
    ) == sorted([lora_tag(a, wa), lora_tag(b, wb)])
