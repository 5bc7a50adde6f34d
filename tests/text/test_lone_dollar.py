"""A lone ``$`` is a reserved token, not an empty identifier: the annotations proposal's
scripts (``(func $(@a))``) and the reference interpreter call it an "unknown operator"."""

import pytest

from wasmforge.errors import ParseError
from wasmforge.text.parser import parse_module


@pytest.mark.parametrize("text", ["(module (func $(@a)))", "(module (func $(@a)f))", "(module (func $ ))"])
def test_lone_dollar_is_unknown_operator(text):
    with pytest.raises(ParseError) as exc:
        parse_module(text)
    assert str(exc.value).find("unknown operator") >= 0, str(exc.value)


def test_annotation_inside_parenthesis_before_keyword_is_unknown_operator():
    with pytest.raises(ParseError) as exc:
        parse_module("((@a)@b)")
    assert "unknown operator" in str(exc.value)
