"""gojson must write what Go's encoding/json writes and read like its decoder."""

import pytest

from rktfast.output.gojson import (
    GoMap,
    JsonNumber,
    JsonObject,
    JSONSyntaxError,
    RawJSON,
    compact,
    dumps,
    get_ci,
    go_float,
    indent,
    loads,
)


def test_compact_has_no_spaces_and_keeps_dict_order():
    assert dumps({"b": 1, "a": [True, None, "x"]}) == '{"b":1,"a":[true,null,"x"]}'


def test_pretty_is_tab_indented_like_marshalindent():
    doc = {"name": "x", "list": [1, 2], "empty": [], "obj": {}, "nested": {"k": "v"}}
    assert dumps(doc, pretty=True) == (
        '{\n\t"name": "x",\n\t"list": [\n\t\t1,\n\t\t2\n\t],\n\t"empty": [],\n\t"obj": {},\n'
        '\t"nested": {\n\t\t"k": "v"\n\t}\n}')


def test_none_and_empty_containers():
    assert dumps(None) == "null"
    assert dumps([]) == "[]"
    assert dumps({}, pretty=True) == "{}"


def test_html_and_line_separators_are_escaped():
    assert dumps("<a&b>\u2028\u2029") == '"\\u003ca\\u0026b\\u003e\\u2028\\u2029"'


def test_control_characters_use_u00xx_except_n_r_t():
    assert dumps("\n\r\t\b\f\x01\x7f\"\\") == '"\\n\\r\\t\\u0008\\u000c\\u0001\x7f\\"\\\\"'


def test_lone_surrogate_becomes_replacement_character():
    assert dumps("a\ud800b") == '"a\\ufffdb"'


def test_non_ascii_is_written_raw():
    assert dumps("h\u00e9llo \u4e16") == '"h\u00e9llo \u4e16"'


@pytest.mark.parametrize("f, text", [
    (1.0, "1"), (0.5, "0.5"), (-0.0, "-0"), (1e20, "100000000000000000000"), (1e21, "1e+21"),
    (1.5e-7, "1.5e-7"), (1e-6, "0.000001"), (123456.789, "123456.789"), (1e100, "1e+100"),
    (-2.5e-10, "-2.5e-10"), (0.1 + 0.2, "0.30000000000000004"),
])
def test_floats_like_go(f, text):
    assert go_float(f) == text


def test_gomap_sorts_keys_like_a_go_map():
    assert dumps(GoMap({"b": "1", "a": "2"})) == '{"a":"2","b":"1"}'


def test_loads_keeps_order_duplicates_and_number_literals():
    v = loads(b'{"B": 1.50, "a": [1e3, -0], "B": 2}')
    assert isinstance(v, JsonObject)
    assert [k for k, _ in v] == ["B", "a", "B"]
    assert dumps(v) == '{"B":1.50,"a":[1e3,-0],"B":2}'
    assert isinstance(v[1][1][0], JsonNumber)


def test_case_insensitive_lookup_last_wins():
    v = loads('{"supplementaryGids": 1, "SUPPLEMENTARYGIDS": 2}')
    assert get_ci(v, "supplementaryGIDs") == "2"
    assert get_ci(v, "missing", "d") == "d"


def test_unpaired_surrogate_escape_decodes_to_replacement_character():
    assert loads('"\\ud800x"') == "\ufffdx"


@pytest.mark.parametrize("text, msg", [
    ('{"a":', "unexpected end of JSON input"),
    ('{"a":1} x', "invalid character 'x' after top-level value"),
    ('{"a":1,}', "invalid character '}' looking for beginning of object key string"),
    ('[1 2]', "invalid character '2' after array element"),
    ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    ("\ufeff{}", "invalid character '\u00ef' looking for beginning of value"),
    ("NaN", "invalid character 'N' looking for beginning of value"),
])
def test_syntax_errors_use_gos_messages(text, msg):
    with pytest.raises(JSONSyntaxError) as e:
        loads(text)
    assert str(e.value) == msg


def test_raw_json_is_compacted_escaped_and_indented():
    raw = RawJSON('{ "set" : [ "a<b" ],\n "errno": "" }')
    assert dumps({"value": raw}) == '{"value":{"set":["a\\u003cb"],"errno":""}}'
    assert dumps({"value": raw}, pretty=True) == (
        '{\n\t"value": {\n\t\t"set": [\n\t\t\t"a\\u003cb"\n\t\t],\n\t\t"errno": ""\n\t}\n}')


def test_indent_matches_go_indent():
    assert indent(compact('{"a": [], "b": {"c": [1, {}]}}')) == (
        '{\n\t"a": [],\n\t"b": {\n\t\t"c": [\n\t\t\t1,\n\t\t\t{}\n\t\t]\n\t}\n}')


def test_compact_agrees_with_the_expression_it_replaced():
    """compact() uses no re; it must write what the regular expression version (strings
    kept and HTML-escaped, whitespace between tokens dropped) wrote."""
    import json
    import random
    import re

    def by_regex(raw: str) -> str:
        def sub(m):
            s = m.group(1)
            if s is None:
                return ""
            return re.sub("[<>&\u2028\u2029]", lambda h: f"\\u{ord(h.group()):04x}", s)
        return re.sub(r'(?s)("(?:[^"\\]|\\.)*")|[ \t\n\r]+', sub, raw)

    rng = random.Random(1)
    chars = ["a", " ", "<", ">", "&", "\u2028", "\u2029", '"', "\\", "\n", "\t", "é", "😀"]

    def text() -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))

    def value(depth: int = 0):
        r = rng.random()
        if depth > 3 or r < 0.3:
            return rng.choice([text(), rng.randint(-5, 5), 1.5, True, None])
        if r < 0.65:
            return {text(): value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(5000):
        doc = json.dumps(value(), indent=rng.choice([None, 1, "\t"]),
                         ensure_ascii=rng.random() < 0.5)
        assert compact(doc) == by_regex(doc), doc


def test_quote_fast_path_agrees_with_the_escaping_path():
    """quote() skips re for plain ASCII; every string must come out as the regex path
    (Go's encoder) writes it."""
    import random
    import re

    from rktfast.output import gojson

    def slow(s: str) -> str:
        return '"' + re.sub(gojson._NEEDS_ESCAPE, gojson._escape_char, s) + '"'

    alphabet = 'az "\\<>&\x00\x1f\x7f\t\n\u00e9\u2028\u2029\ud800/'
    rng = random.Random(7)
    for _ in range(20000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        assert gojson.quote(s) == slow(s), repr(s)
