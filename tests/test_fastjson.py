"""rktfast.fastjson is json.loads by another door: the same values and the same errors."""

from __future__ import annotations

import json

import pytest

from rktfast import fastjson
from rktfast.output import gojson

DOCUMENTS = [
    '{"acKind": "ImageManifest", "name": "x", "labels": [{"name": "os", "value": "linux"}]}',
    '  {"a": 1, "A": 2, "a": 3}\n', "[]", "{}", '"text"', "12", "-0.5e3", "true", "null",
    '{"n": [1, 2.5, -3, 1e400, 0.1]}', '{"s": "caf\\u00e9 \\ud83d\\ude00 \\n \\" <&>"}',
    '{"nested": {"deep": [[[{"k": []}]]]}}', "NaN", "[Infinity, -Infinity]",
    '\ufeff{"bom": 1}', '{"lone": "\\ud800"}', "\t[1]\r\n",
]
BROKEN = ["", " ", "{", "{not json", '{"a" 1}', '[1, x]', '{"a": "\\q"}', "[1,]", "[1] x", '{"a": tru}', '"\\x"', "\x00",
          '{"a": "\n"}', "01", "[1 2]"]


@pytest.mark.parametrize("doc", DOCUMENTS)
@pytest.mark.parametrize("kind", [str, bytes])
def test_same_values_as_json(doc, kind):
    data = doc if kind is str else doc.encode("utf-8")
    try:
        want = json.loads(data)
    except ValueError as e:
        with pytest.raises(type(e)) as got:
            fastjson.loads(data)
        assert str(got.value) == str(e)
        return
    got = fastjson.loads(data)
    assert repr(got) == repr(want)  # repr: nan != nan, and int stays int


@pytest.mark.parametrize("doc", BROKEN)
def test_same_errors_as_json(doc):
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(doc)
    with pytest.raises(json.JSONDecodeError) as got:
        fastjson.loads(doc)
    assert (str(got.value), got.value.pos) == (str(want.value), want.value.pos)


def test_utf16_falls_back_to_json():
    data = '{"a": [1]}'.encode("utf-16")
    assert fastjson.loads(data) == json.loads(data) == {"a": [1]}


@pytest.mark.parametrize("doc", DOCUMENTS + BROKEN)
def test_gojson_fast_path_agrees_with_the_stdlib_path(doc, monkeypatch):
    """gojson.loads takes the C scanner first; forced onto the json.loads path it must
    give the same objects, numbers as their literal text, and the same Go error."""
    def outcome():
        try:
            return "ok", repr(gojson.loads(doc))
        except gojson.JSONSyntaxError as e:
            return "error", str(e)

    fast = outcome()
    monkeypatch.setattr(gojson, "_loads_fast", lambda text: None)
    assert outcome() == fast


def test_errors_in_a_fresh_interpreter():
    """Where json has not been imported yet (the rkt run path), a syntax error deep in the
    document still comes out as json's error, not the C scanner's SystemError."""
    import subprocess
    import sys

    from conftest import package_env

    script = ("import sys\nfrom rktfast import fastjson, output\nfrom rktfast.output import gojson\n"
              "assert 'json' not in sys.modules\n"
              "for doc in ['{not json', '[1, x]', '{\"a\": \"\\\\q\"}']:\n"
              "    try:\n        fastjson.loads(doc)\n    except ValueError as e:\n"
              "        print(type(e).__name__, e)\n"
              "    try:\n        gojson.loads(doc)\n    except ValueError as e:\n"
              "        print(type(e).__name__, e)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       env=package_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "JSONDecodeError Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)",
        "JSONSyntaxError invalid character 'n' looking for beginning of object key string",
        "JSONDecodeError Expecting value: line 1 column 5 (char 4)",
        "JSONSyntaxError invalid character 'x' looking for beginning of value",
        "JSONDecodeError Invalid \\escape: line 1 column 8 (char 7)",
        "JSONSyntaxError invalid character 'q' in string escape code",
    ]
