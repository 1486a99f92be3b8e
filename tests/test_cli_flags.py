"""rkt's flag grammar: pflag spellings, Go single-dash flags, implicit values, per-image flags."""

import pytest

from rktfast.cli.command import Flag
from rktfast.cli.flags import FlagSet, HelpRequested, parse_image_args, split_flags
from rktfast.errors import UsageError


def flagset():
    return FlagSet([Flag("debug", bool), Flag("dir", str, "/var/lib/rkt"),
                    Flag("net", "list", [], implicit="default"),
                    Flag("exec", str, "", per_app=True), Flag("signature", str, "", per_app=True),
                    Flag("set-env", "list", [])])


def test_equals_and_separate_value_forms():
    fs = flagset()
    pos, dd, rest = split_flags([fs], ["--dir=/a", "x", "--dir", "/b"], interspersed=True)
    assert fs.values["dir"] == "/b" and pos == ["x"] and dd is None and rest == []


def test_go_style_single_dash_long_flags():
    fs = flagset()
    split_flags([fs], ["-dir=/x", "-debug"], interspersed=True)
    assert fs.values["dir"] == "/x" and fs.values["debug"] is True


def test_bool_never_consumes_next_word():
    fs = flagset()
    pos, _, _ = split_flags([fs], ["--debug", "false"], interspersed=True)
    assert fs.values["debug"] is True and pos == ["false"]


def test_bool_explicit_false():
    fs = flagset()
    split_flags([fs], ["--debug=false"], interspersed=True)
    assert fs.values["debug"] is False


def test_bad_bool_value_is_a_usage_error():
    with pytest.raises(UsageError, match="ParseBool"):
        split_flags([flagset()], ["--debug=maybe"], interspersed=True)


def test_implicit_value_does_not_consume_next_word():
    fs = flagset()
    pos, _, _ = split_flags([fs], ["--net", "image"], interspersed=True)
    assert fs.values["net"] == ["default"] and pos == ["image"]


def test_unknown_flag():
    with pytest.raises(UsageError, match="unknown flag: --nope"):
        split_flags([flagset()], ["--nope"], interspersed=True)


def test_help_flag():
    with pytest.raises(HelpRequested):
        split_flags([flagset()], ["-h"], interspersed=True)


def test_not_interspersed_stops_at_first_positional():
    fs = flagset()
    pos, _, rest = split_flags([fs], ["--debug", "img", "--dir=/x"], interspersed=False)
    assert pos == [] and rest == ["img", "--dir=/x"] and fs.values["dir"] == "/var/lib/rkt"


def test_per_app_flags_bind_to_preceding_image_and_app_args():
    fs = flagset()
    ims = parse_image_args([fs], ["a", "--exec=/x", "--", "1", "2", "---", "b",
                                  "--set-env=K=V", "--signature", "s.asc"])
    assert [i.image for i in ims] == ["a", "b"]
    assert ims[0].flags == {"exec": "/x"} and ims[0].args == ["1", "2"]
    assert ims[1].flags == {"signature": "s.asc"} and ims[1].args is None
    assert fs.values["set-env"] == ["K=V"]


def test_per_app_flag_before_any_image():
    with pytest.raises(UsageError, match="--exec must follow an image"):
        parse_image_args([flagset()], ["--exec=/x", "a"])


def test_app_args_need_an_image_and_only_one_set():
    with pytest.raises(UsageError, match="an image is required before any app arguments"):
        parse_image_args([flagset()], ["--", "x"])
    with pytest.raises(UsageError, match="only one set of app arguments"):
        parse_image_args([flagset()], ["a", "--", "x", "---", "--", "y"])


def test_exec_twice_for_one_image():
    with pytest.raises(UsageError, match="multiple times"):
        parse_image_args([flagset()], ["a", "--exec=/x", "--exec=/y"])
