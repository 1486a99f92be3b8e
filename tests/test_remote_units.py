"""The pieces of remote fetching that need no network: the progress line, meta tag parsing,
URL templates, Cache-Control, manifest checks against the requested name and labels."""

from __future__ import annotations

import io
import json
import time

import pytest

from rktfast.appc.image_manifest import ImageManifest
from rktfast.errors import ImageError
from rktfast.fetch.discovery import (
    MAX_META,
    PAGE_LIMIT,
    endpoints_from,
    extract_meta,
    render_template,
)
from rktfast.fetch.http import HTTPOptions, auth_header, max_age
from rktfast.fetch.progress import ProgressBar, byte_unit_str, draw_bar
from rktfast.fetch.remote import check_name_and_labels


@pytest.mark.parametrize("n,text", [
    (0, "0 B"), (999, "999 B"), (1000, "1 KB"), (1234, "1.23 KB"), (3_790_000, "3.79 MB"),
    (999_999, "1e+03 KB"), (5 * 10**9, "5 GB"),
])
def test_byte_unit_str_is_go_ioprogress(n, text):
    assert byte_unit_str(n) == text


def test_draw_bar():
    assert draw_bar(0, 100, 12) == "[          ]"
    assert draw_bar(50, 100, 12) == "[====>     ]"
    assert draw_bar(100, 100, 12) == "[==========]"
    assert draw_bar(5, 0, 6) == "[    ]"


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_redraws_at_most_once_a_second_on_a_terminal():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar("ACI", 3_790_000, stream=out, tty=True, clock=clock)
    for _ in range(100):  # 100 chunks over 2.5 s
        bar.add(37_900)
        clock.t += 0.025
    bar.finish()
    frames = out.getvalue().split("\r")
    assert out.getvalue().endswith("\r\n")
    assert 3 <= len(frames) - 1 <= 5  # t=0, 1, 2 and the final draw
    final = frames[-2]
    assert final.startswith("Downloading ACI: [" + "=" * 45 + "] 3.79 MB/3.79 MB")
    assert len(final) <= 80


def test_progress_without_a_terminal_prints_one_final_line():
    out = io.StringIO()
    bar = ProgressBar("signature", 473, stream=out, tty=False)
    bar.add(400)
    bar.add(73)
    assert out.getvalue() == ""
    bar.finish()
    assert out.getvalue() == "Downloading signature: 473 B/473 B\n"


def test_progress_of_an_unknown_size_and_abort():
    out = io.StringIO()
    bar = ProgressBar("ACI", None, stream=out, tty=True)
    bar.add(1_500_000)
    bar.abort()
    assert out.getvalue() == "Downloading ACI: 1.5 MB of an unknown total size\r\n"


def test_extract_meta_follows_the_html_rules():
    page = b"""<!DOCTYPE html><html><head>
<!-- <meta name="ac-discovery" content="commented https://x"> -->
<META NAME="ac-discovery" CONTENT="example.com https://x/{name}.{ext}"/>
<script>var s = '<meta name="ac-discovery" content="in script">';</script>
<meta name='ac-discovery-pubkeys' content='example.com&#32;https://k/a&amp;b' >
<meta name=ac-discovery content="three fields here">
<meta name="description" content="a b">
</head><meta name="ac-discovery" content="after https://head">"""
    metas = extract_meta(page)
    assert [(m.name, m.prefix, m.uri) for m in metas] == [
        ("ac-discovery", "example.com", "https://x/{name}.{ext}"),
        ("ac-discovery-pubkeys", "example.com", "https://k/a&b"),
    ]


def test_extract_meta_stops_after_max_meta_tags():
    junk = b'<meta name="other" content="a b">' * MAX_META
    good = b'<meta name="ac-discovery" content="a https://b">'
    assert extract_meta(b"<head>" + good + junk) != []
    assert extract_meta(b"<head>" + junk + good) == []


@pytest.mark.parametrize("hostile", [
    b"<" * PAGE_LIMIT, b"<a" * (PAGE_LIMIT // 2), b"<meta name='x' " * (PAGE_LIMIT // 16),
    b"<!--x" * (PAGE_LIMIT // 5), b"<meta " + b"a='' " * (PAGE_LIMIT // 5),
    b"<script>" * (PAGE_LIMIT // 8), b'<meta content="' + b"a" * PAGE_LIMIT,
], ids=["lt", "lt-a", "unclosed-tags", "comments", "attrs", "scripts", "open-quote"])
def test_extract_meta_is_linear_on_hostile_pages(hostile):
    start = time.monotonic()
    assert extract_meta(b"<html><head>" + hostile) == []
    assert time.monotonic() - start < 2


def test_templates_and_endpoints():
    assert render_template("https://x/{name}-{version}.{ext}", {"name": "a/b"}) is None
    metas = extract_meta(b'<head>'
                         b'<meta name="ac-discovery" content="example.com '
                         b'https://h/{name}-{version}-{os}-{arch}.{ext}">'
                         b'<meta name="ac-discovery" content="example.com https://h/{nope}.{ext}">'
                         b'<meta name="ac-discovery" content="example.com https://h/{name}.{ext}">')
    eps = endpoints_from(metas, "example.com/app", {"os": "linux", "arch": "amd64"})
    assert [(e.aci, e.asc) for e in eps] == [
        ("https://h/example.com/app-latest-linux-amd64.aci",
         "https://h/example.com/app-latest-linux-amd64.aci.asc"),
        ("https://h/example.com/app.aci", "https://h/example.com/app.aci.asc"),
    ]


@pytest.mark.parametrize("value,age", [
    (None, 0), ("max-age=60", 60), ("public, max-age=3600", 3600), ("no-cache, max-age=60", 0),
    ("max-age=60, no-store", 0), ("max-age=abc", 0), ('max-age="30"', 30),
])
def test_cache_control_max_age(value, age):
    assert max_age(value) == age


def test_auth_header_per_host():
    opts = HTTPOptions(auth={"a.example": ("basic", {"user": "bob", "password": "secret"}),
                             "b.example:8443": ("oauth", {"token": "t0k"}),
                             "c.example": ("aws", {})})
    assert auth_header("a.example", opts) == "Basic Ym9iOnNlY3JldA=="
    assert auth_header("b.example:8443", opts) == "Bearer t0k"
    assert auth_header("b.example", opts) is None
    with pytest.raises(ImageError, match="not supported"):
        auth_header("c.example", opts)


def manifest(name, **labels):
    return ImageManifest.parse(json.dumps({
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
        "labels": [{"name": k, "value": v} for k, v in labels.items()]}))


def test_fetched_manifest_must_match_the_request():
    m = manifest("example.com/app", version="1.2.0", os="linux", arch="amd64")
    check_name_and_labels(m, "example.com/app", {"version": "1.2.0", "os": "linux"})
    with pytest.raises(ImageError, match='^error when reading the app name: "example.com/x" '
                                         'expected but "example.com/app" found$'):
        check_name_and_labels(m, "example.com/x", {})
    with pytest.raises(ImageError, match='^requested value for label "version": "2.0" differs '
                                         'from fetched aci label value: "1.2.0"$'):
        check_name_and_labels(m, "example.com/app", {"version": "2.0"})
    with pytest.raises(ImageError, match='^requested label "channel" not provided by the image '
                                         'manifest$'):
        check_name_and_labels(m, "example.com/app", {"channel": "beta"})
