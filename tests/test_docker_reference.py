"""Docker image references normalised as Docker and rkt did."""

import pytest

from rktfast.docker.reference import DEFAULT_REGISTRY, parse
from rktfast.errors import ImageError


@pytest.mark.parametrize("url,registry,repo,tag,digest", [
    ("docker://redis", DEFAULT_REGISTRY, "library/redis", "latest", None),
    ("docker:redis:7", DEFAULT_REGISTRY, "library/redis", "7", None),
    ("docker://me/app:v1", DEFAULT_REGISTRY, "me/app", "v1", None),
    ("docker://localhost/app", "localhost", "app", "latest", None),
    ("docker://127.0.0.1:5000/library/busybox:1.35",
     "127.0.0.1:5000", "library/busybox", "1.35", None),
    ("docker://quay.io/coreos/etcd@sha256:" + "a" * 64,
     "quay.io", "coreos/etcd", None, "sha256:" + "a" * 64),
])
def test_normalisation(url, registry, repo, tag, digest):
    ref = parse(url)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


def test_appc_name_is_registry_and_repository():
    assert parse("docker://redis").appc_name == "registry-1.docker.io/library/redis"


@pytest.mark.parametrize("url", ["docker://", "docker://Upper/case", "docker://a/b:bad tag",
                                 "docker://x@sha256:zz"])
def test_bad_urls(url):
    with pytest.raises(ImageError, match="expected syntax is"):
        parse(url)


def test_conversion_of_a_config_follows_docker2aci():
    from rktfast.docker.convert import image_manifest

    ref = parse("docker://127.0.0.1:5000/library/web:1.0")
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Entrypoint": ["/bin/httpd"], "Cmd": ["-f", "-p", "80"],
                         "User": "www", "Env": ["PATH=/bin", "A=b=c"], "WorkingDir": "/srv",
                         "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                         "Volumes": {"/data": {}, "/var/log": {}}}}
    m = image_manifest(ref, config, b"{}", "sha256:" + "c" * 64)
    assert m.name == "127.0.0.1_5000/library/web"
    assert m.label("version") == "1.0" and m.label("arch") == "amd64"
    assert m.app.exec == ["/bin/httpd", "-f", "-p", "80"]
    assert (m.app.user, m.app.group) == ("www", "www")
    assert [(p.name, p.protocol, p.port) for p in m.app.ports] == [
        ("53-udp", "udp", 53), ("80-tcp", "tcp", 80)]
    assert [(v.name, v.path) for v in m.app.mount_points] == [
        ("volume-data", "/data"), ("volume-var-log", "/var/log")]
    assert m.app.env("A") == "b=c" and m.app.working_directory == "/srv"
    assert m.annotation("appc.io/docker/entrypoint") == '["/bin/httpd"]'
    assert m.annotation("appc.io/docker/repository") == "library/web"


def test_bearer_challenge_is_parsed():
    from rktfast.docker.registry import parse_challenge

    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry.example",
                      "scope": "repository:a/b:pull"}


def test_index_resolves_to_the_host_platform_only():
    from rktfast.docker.manifest import host_arch, select_platform

    d = "sha256:" + "1" * 64
    doc = {"manifests": [
        {"mediaType": "m", "digest": "sha256:" + "2" * 64, "size": 1,
         "platform": {"os": "windows", "architecture": host_arch()}},
        {"mediaType": "m", "digest": d, "size": 1,
         "platform": {"os": "linux", "architecture": host_arch()}}]}
    assert select_platform(doc, "index").digest == d
    doc["manifests"].pop()
    with pytest.raises(ImageError, match=f"no image for linux/{host_arch()}"):
        select_platform(doc, "index")


@pytest.mark.parametrize("digest", ["sha256:" + "A" * 64, "sha256:../../x", "md5:" + "a" * 32,
                                    "sha256:" + "a" * 63])
def test_digests_that_could_become_paths_are_refused(digest):
    from rktfast.docker.manifest import check_digest

    with pytest.raises(ImageError, match="invalid digest"):
        check_digest(digest, "layer")


def test_local_sources_need_an_existing_path(tmp_path):
    from rktfast.docker.reference import is_local_source

    (tmp_path / "layout").mkdir()
    (tmp_path / "img.tar").write_bytes(b"")
    assert is_local_source(f"oci:{tmp_path}/layout")
    assert is_local_source(f"oci:{tmp_path}/layout:v1")
    assert is_local_source(f"docker-archive:{tmp_path}/img.tar")
    assert is_local_source(f"docker-archive:{tmp_path}/img.tar:a/b:1")
    assert not is_local_source("oci:1.0")  # an appc name with a version
    assert not is_local_source(f"oci:{tmp_path}/missing")
