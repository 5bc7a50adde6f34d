"""The lexer of the text format: tokens, comments, annotations, strings, positions."""

import pytest

from wasmforge.errors import ParseError
from wasmforge.text.lexer import EOF, ERR, ID, KW, LPAR, NUM, RPAR, STR, decode_string, tokenize


def kinds(text):
    """(kind, value) of every token, with a single EOF at the end."""
    toks = [(k, v) for k, v, _ in tokenize(text).toks]
    while toks[-2:] == [(EOF, None)] * 2:
        toks.pop()
    return toks


def test_parens_keywords_ids_numbers_and_strings():
    assert kinds('(func $f 12 "a")') == [
        (LPAR, None), (KW, "func"), (ID, "f"), (NUM, "12"), (STR, b"a"), (RPAR, None), (EOF, None)]


def test_tokens_need_no_space_around_parentheses():
    assert kinds("(func(nop))") == [
        (LPAR, None), (KW, "func"), (LPAR, None), (KW, "nop"), (RPAR, None), (RPAR, None),
        (EOF, None)]


def test_line_comment_ends_at_lf_cr_or_crlf():
    for nl in ("\n", "\r", "\r\n"):
        assert kinds(f"nop ;; comment{nl}drop") == [(KW, "nop"), (KW, "drop"), (EOF, None)]


def test_block_comments_nest():
    assert kinds("nop (; a (; b ;) c ;) drop") == [(KW, "nop"), (KW, "drop"), (EOF, None)]


def test_unclosed_block_comment_is_an_error_token():
    toks = tokenize("nop (; a (; b ;)").toks
    assert toks[1][:2] == (ERR, "unclosed comment")


def test_annotations_are_skipped_with_nested_parentheses():
    assert kinds("(@a x (y (z)) \"s\") nop") == [(KW, "nop"), (EOF, None)]


def test_custom_annotation_body_is_kept():
    tokens = tokenize('(@custom "n" (after func) "d")')
    assert {t[:2] for t in tokens.toks} == {(EOF, None)}
    (pos, body), = tokens.customs
    assert pos == 0
    assert [t[:2] for t in body] == [
        (STR, b"n"), (LPAR, None), (KW, "after"), (KW, "func"), (RPAR, None), (STR, b"d")]


def test_unclosed_annotation_is_an_error_token():
    assert tokenize("(@x (y)").toks[0][:2] == (ERR, "unclosed annotation")


def test_keyword_glued_to_digits_is_unknown_operator():
    assert kinds("i32.const0")[0] == (ERR, "unknown operator i32.const0")


def test_number_glued_to_keyword_is_unknown_operator():
    assert kinds("0drop")[0] == (ERR, "unknown operator 0drop")


def test_string_glued_to_atom_is_unknown_operator():
    assert kinds('$l"a"')[0][0] == ERR
    assert kinds('"a""b"')[0][0] == ERR


def test_identifier_may_contain_dollar_and_symbols():
    assert kinds("$l$l $a+b/c")[:2] == [(ID, "l$l"), (ID, "a+b/c")]


def test_unknown_keyword_is_unknown_operator():
    assert kinds("get_local")[0] == (ERR, "unknown operator get_local")


def test_memarg_keywords():
    assert kinds("offset=4 align=0x8")[:2] == [(KW, "offset=4"), (KW, "align=0x8")]


def test_reserved_punctuation_is_unknown_operator():
    assert kinds(",")[0] == (ERR, "unknown operator ,")


def test_string_escapes():
    assert decode_string(r"\n\t\r\\\'\"") == b"\n\t\r\\'\""
    assert decode_string(r"\00\ff\7F") == b"\x00\xff\x7f"
    assert decode_string(r"\u{41}\u{1F600}\u{0_0e9}") == "A\U0001F600\u00e9".encode()


def test_string_holds_utf8_of_its_characters():
    assert decode_string("Heiße") == "Heiße".encode()


def test_bad_escape_is_reported():
    assert decode_string(r"\q") == "illegal escape"
    assert decode_string(r"\u{D800}") == "illegal escape"


def test_control_character_in_string_is_reported():
    assert decode_string("a\tb") == "illegal control character in string literal"


def test_invalid_utf8_source_bytes_are_malformed():
    text = b'"\xff"'.decode("utf-8", "surrogateescape")
    assert kinds(text)[0] == (ERR, "malformed UTF-8 encoding")


def test_unclosed_string_is_an_error_token():
    assert kinds('"abc')[0] == (ERR, "unclosed string literal")


def test_positions_are_line_and_column_from_one():
    tokens = tokenize("(module\n  (func $f)\r\n\tnop)")
    toks = tokens.toks
    assert tokens.where(toks[0][2]) == (1, 1)
    assert tokens.where(toks[3][2]) == (2, 4)       # func
    assert tokens.where(toks[6][2]) == (3, 2)       # nop after CR LF and a tab


def test_error_carries_position_and_filename():
    err = tokenize("\n  x", filename="a.wat").error("boom", 3)
    assert isinstance(err, ParseError)
    assert (err.line, err.column, err.filename, err.reason) == (2, 3, "a.wat", "boom")
    assert str(err) == "a.wat:2:3: boom"


@pytest.mark.parametrize("word", ["inf", "nan", "nan:0x1", "-inf", "+nan:0x7f_ffff"])
def test_float_words_are_numbers(word):
    assert kinds(word)[0] == (NUM, word)


def test_nan_patterns_are_keywords():
    assert kinds("nan:canonical nan:arithmetic")[:2] == [
        (KW, "nan:canonical"), (KW, "nan:arithmetic")]
