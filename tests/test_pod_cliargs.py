"""rkt run/prepare's --volume, --mount and --port values (rktfast.pod.cliargs): the pod
manifest entries they become, and rkt's messages for bad ones."""

import pytest

from rktfast.errors import RktError
from rktfast.pod.cliargs import parse_mount, parse_port, parse_volume


@pytest.mark.parametrize("flag, volume", [
    ("data,kind=empty", {"name": "data", "kind": "empty", "mode": "0755", "uid": 0, "gid": 0}),
    ("data,kind=empty,mode=0700,uid=1000,gid=100",
     {"name": "data", "kind": "empty", "mode": "0700", "uid": 1000, "gid": 100}),
    ("src,kind=host,source=/tmp/a%20b,readOnly=true,recursive=false",  # taken literally
     {"name": "src", "kind": "host", "source": "/tmp/a%20b", "readOnly": True,
      "recursive": False}),
    ("src,kind=host,source=/srv,readOnly=1",
     {"name": "src", "kind": "host", "source": "/srv", "readOnly": True}),
])
def test_volume_flag(flag, volume):
    assert parse_volume(flag) == volume


@pytest.mark.parametrize("flag, reason", [
    ("db,kind", 'malformed string "name=db,kind" - has a label without a value: kind'),
    ("db,kind=host,source=rel", "source for host volume must be absolute path"),
    ("db,kind=host", "source for host volume cannot be empty"),
    ("db,kind=host,source=/x,uid=1", "uid for host volume cannot be set"),
    ("db,kind=empty,source=/x", "source for empty volume must be empty"),
    ("db,kind=host,source=/x,foo=1", 'unknown volume parameter "foo"'),
    ("Db,kind=empty", 'ACName must contain only lower case alphanumeric characters plus "-"'),
    ("db,kind=empty,uid=x", 'strconv.Atoi: parsing "x": invalid syntax'),
    ("db,kind=host,source=/x,readOnly=yes", 'strconv.ParseBool: parsing "yes": invalid syntax'),
    ("db,kind=empty,kind=host", 'label kind with multiple values ["empty" "host"]'),
])
def test_volume_flag_errors(flag, reason):
    with pytest.raises(RktError) as e:
        parse_volume(flag)
    assert str(e.value) == f'invalid value in --volume flag "{flag}": {reason}'


def test_mount_flag():
    assert parse_mount("volume=data,target=/var/lib/data") == {"volume": "data",
                                                               "path": "/var/lib/data"}
    assert parse_mount("volume=d,target=/a%20b") == {"volume": "d", "path": "/a b"}


@pytest.mark.parametrize("flag, reason", [
    ("volume=data,dest=/x", 'unknown mount parameter "dest"'),
    ("volume=Data,target=/x",
     'ACName must contain only lower case alphanumeric characters plus "-"'),
    ("volume=a,target=/%zz", 'invalid URL escape "%zz"'),
])
def test_mount_flag_errors(flag, reason):
    with pytest.raises(RktError) as e:
        parse_mount(flag)
    assert str(e.value) == f'invalid value in --mount flag "{flag}": {reason}'


@pytest.mark.parametrize("flag, port", [
    ("http:8080", {"name": "http", "hostPort": 8080}),
    ("http:127.0.0.1:8080", {"name": "http", "hostPort": 8080, "hostIP": "127.0.0.1"}),
])
def test_port_flag(flag, port):
    assert parse_port(flag) == port


@pytest.mark.parametrize("flag, reason", [
    ("http", '"http" is not in name:[ip:]port format'),
    ("Http:80", '"Http" is not a valid port name'),
    ("http:1.2.3.400:80", '"1.2.3.400" is not a valid IP'),
    ("http:x", '"x" is not a valid port number'),
    ("http:70000", '"70000" is not a valid port number'),
    ("http:\u00b2", '"\u00b2" is not a valid port number'),  # a digit to str.isdigit()
    ("http:127.0.0.1:x", '"127.0.0.1" is not a valid port number'),  # rkt quotes the IP here
])
def test_port_flag_errors(flag, reason):
    with pytest.raises(RktError) as e:
        parse_port(flag)
    assert str(e.value) == f'invalid argument "{flag}" for "--port" flag: {reason}'
