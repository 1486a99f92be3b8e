"""The appc 0.8.11 PodManifest.

``PodManifest.parse`` decodes like appc's Go code (case-insensitive keys, unknown keys
dropped, appc's checks; ``PodError`` with appc's message); ``to_json`` writes appc's field
order, where ``apps``, ``volumes``, ``isolators``, ``annotations`` and ``ports`` are written as
``null`` when unset (no ``omitempty`` in appc's struct).

rkt's ``--volume``, ``--mount`` and ``--port`` values are parsed by ``rktfast.pod.cliargs``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rktfast.appc import decode
from rktfast.appc.image_manifest import (
    Annotation,
    App,
    Port,
    decode_ac_kind,
    decode_annotations,
    decode_app,
    decode_labels,
    decode_port,
    decode_semver,
)
from rktfast.appc.isolators import Isolator, decode_isolator
from rktfast.appc.types import (
    Label,
    canonical_ip,
    check_ac_identifier,
    check_ac_name,
    check_hash,
)
from rktfast.errors import PodError
from rktfast.output.gojson import GoMap, JSONSyntaxError, dumps, loads
from rktfast.output.goquote import go_quote
from rktfast.record import Record

POD_MANIFEST_KIND = "PodManifest"
EMPTY_VOLUME_DEFAULT_MODE = "0755"


class Volume(Record):
    """A pod volume: ``host`` (``source``, ``readOnly``, ``recursive``) or ``empty`` (mode/uid/gid).

    Optional fields are None when unset and then omitted on output; an explicit ``false``
    is kept, as with appc's pointer fields.
    """

    __slots__ = ("name", "kind", "source", "read_only", "recursive", "mode", "uid", "gid")
    _defaults: ClassVar[dict[str, Any]] = {"source": "", "read_only": None, "recursive": None,
                                           "mode": None, "uid": None, "gid": None}
    name: str
    kind: str
    source: str
    read_only: bool | None
    recursive: bool | None
    mode: str | None
    uid: int | None
    gid: int | None

    def set_defaults(self) -> None:
        """appc ``maybeSetDefaults``: empty volumes get mode 0755, uid 0, gid 0."""
        if self.kind == "empty":
            if self.mode is None:
                self.mode = EMPTY_VOLUME_DEFAULT_MODE
            if self.uid is None:
                self.uid = 0
            if self.gid is None:
                self.gid = 0

    def validate(self) -> None:
        """appc ``Volume.assertValid``."""
        if not self.name:
            raise ValueError("name must be set")
        if self.kind == "empty":
            if self.source:
                raise ValueError("source for empty volume must be empty")
            if self.mode is None:
                raise ValueError("mode for empty volume must be set")
            if self.uid is None:
                raise ValueError("uid for empty volume must be set")
            if self.gid is None:
                raise ValueError("gid for empty volume must be set")
        elif self.kind == "host":
            if not self.source:
                raise ValueError("source for host volume cannot be empty")
            if self.mode is not None:
                raise ValueError("mode for host volume cannot be set")
            if self.uid is not None:
                raise ValueError("uid for host volume cannot be set")
            if self.gid is not None:
                raise ValueError("gid for host volume cannot be set")
            if not self.source.startswith("/"):
                raise ValueError("source for host volume must be absolute path")
        else:
            raise ValueError('unrecognized volume kind: should be one of "empty", "host"')

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.source:
            d["source"] = self.source
        for key, val in (("readOnly", self.read_only), ("recursive", self.recursive),
                         ("mode", self.mode), ("uid", self.uid), ("gid", self.gid)):
            if val is not None:
                d[key] = val
        return d


class Mount(Record):
    """A volume mounted at ``path`` in an app (``app_volume``: a per-app volume)."""

    __slots__ = ("volume", "path", "app_volume")
    _defaults: ClassVar[dict[str, Any]] = {"app_volume": None}
    volume: str
    path: str
    app_volume: Volume | None

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"volume": self.volume, "path": self.path}
        if self.app_volume is not None:
            d["appVolume"] = self.app_volume
        return d


class RuntimeImage(Record):
    """The image of a pod app: ``id`` required, ``name`` and ``labels`` optional."""

    __slots__ = ("id", "name", "labels")
    _defaults: ClassVar[dict[str, Any]] = {"name": None, "labels": list}
    id: str
    name: str | None
    labels: list[Label]

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.name is not None:
            d["name"] = self.name
        if not self.id:
            raise ValueError("unexpected empty hash type")
        d["id"] = self.id
        if self.labels:
            d["labels"] = self.labels
        return d


class RuntimeApp(Record):
    """One app of a pod."""

    __slots__ = ("name", "image", "app", "read_only_rootfs", "mounts", "annotations")
    _defaults: ClassVar[dict[str, Any]] = {
        "app": None,
        "read_only_rootfs": False,
        "mounts": list,
        "annotations": list,
    }
    name: str
    image: RuntimeImage
    app: App | None
    read_only_rootfs: bool
    mounts: list[Mount]
    annotations: list[Annotation]

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "image": self.image}
        if self.app is not None:
            d["app"] = self.app
        if self.read_only_rootfs:
            d["readOnlyRootFS"] = True
        if self.mounts:
            d["mounts"] = self.mounts
        if self.annotations:
            d["annotations"] = self.annotations
        return d


class ExposedPort(Record):
    """A ``--port`` mapping: app port ``name`` forwarded from ``host_ip:host_port``."""

    __slots__ = ("name", "host_port", "host_ip", "pod_port")
    _defaults: ClassVar[dict[str, Any]] = {"host_ip": None, "pod_port": None}
    name: str
    host_port: int
    host_ip: str | None
    pod_port: Port | None

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "hostPort": self.host_port}
        if self.host_ip:
            d["hostIP"] = self.host_ip
        if self.pod_port is not None:
            d["podPort"] = self.pod_port
        return d


class PodManifest(Record):
    """An appc pod manifest. ``None`` lists are written as JSON ``null``, like Go's nil."""

    __slots__ = (
        "ac_version", "ac_kind", "apps", "volumes", "isolators", "annotations", "ports",
        "user_annotations", "user_labels",
    )
    _defaults: ClassVar[dict[str, Any]] = {
        "ac_version": "",
        "ac_kind": POD_MANIFEST_KIND,
        "apps": None,
        "volumes": None,
        "isolators": None,
        "annotations": None,
        "ports": None,
        "user_annotations": dict,
        "user_labels": dict,
    }
    ac_version: str
    ac_kind: str
    apps: list[RuntimeApp] | None
    volumes: list[Volume] | None
    isolators: list[Isolator] | None
    annotations: list[Annotation] | None
    ports: list[ExposedPort] | None
    user_annotations: dict[str, str]
    user_labels: dict[str, str]

    @classmethod
    def parse(cls, data: bytes | str) -> PodManifest:
        """Parse and validate pod manifest JSON; raises ``PodError`` with a one-line message."""
        try:
            doc = loads(data)
        except JSONSyntaxError as e:
            raise PodError(f"pod manifest is not valid JSON: error at line {e.line}, "
                           f"column {e.column}: {e}") from None
        try:
            return decode_pod_manifest(doc)
        except ValueError as e:
            raise PodError(str(e)) from None

    def app(self, name: str) -> RuntimeApp | None:
        """The app called ``name``, or None."""
        for ra in self.apps or ():
            if ra.name == name:
                return ra
        return None

    def annotation(self, name: str) -> str | None:
        """The value of pod annotation ``name``, or None."""
        for a in self.annotations or ():
            if a.name == name:
                return a.value
        return None

    def ensure_apps(self) -> None:
        """rkt's check before running a pod: ``pod must contain at least one application``."""
        if not self.apps:
            raise PodError("pod must contain at least one application")

    def to_go(self) -> dict[str, Any]:
        if not self.ac_version:
            raise ValueError("SemVer cannot be zero")
        d: dict[str, Any] = {
            "acVersion": self.ac_version, "acKind": self.ac_kind, "apps": self.apps,
            "volumes": self.volumes, "isolators": self.isolators,
            "annotations": self.annotations, "ports": self.ports,
        }
        if self.user_annotations:
            d["userAnnotations"] = GoMap(self.user_annotations)
        if self.user_labels:
            d["userLabels"] = GoMap(self.user_labels)
        return d

    def to_json(self, pretty: bool = False) -> str:
        """Go's ``json.Marshal`` (or ``MarshalIndent`` with a TAB when ``pretty``)."""
        return dumps(self, pretty=pretty)


# --- decoding ------------------------------------------------------------------------------

_PM_FIELDS = decode.field_table("acVersion", "acKind", "apps", "volumes", "isolators",
                                "annotations", "ports", "userAnnotations", "userLabels")
_RA_FIELDS = decode.field_table("name", "image", "app", "readOnlyRootFS", "mounts",
                                "annotations")
_RI_FIELDS = decode.field_table("name", "id", "labels")
_MOUNT_FIELDS = decode.field_table("volume", "path", "appVolume")
_VOLUME_FIELDS = decode.field_table("name", "kind", "source", "readOnly", "recursive", "mode",
                                    "uid", "gid")
_EP_FIELDS = decode.field_table("name", "hostPort", "hostIP", "podPort")


def decode_volume(v: Any) -> Volume:
    """A volume object, with appc's defaults and checks."""
    vol = Volume("", "")
    for key, x in decode.fields(v, _VOLUME_FIELDS, "types.volume"):
        if key == "name":
            vol.name = check_ac_name(decode.string(x))
        elif key == "kind":
            vol.kind = decode.string(x, "volume.kind")
        elif key == "source":
            vol.source = decode.string(x, "volume.source")
        elif key in ("readOnly", "recursive"):
            setattr(vol, "read_only" if key == "readOnly" else key,
                    None if x is None else decode.boolean(x, f"volume.{key}"))
        elif key == "mode":
            vol.mode = None if x is None else decode.string(x, "volume.mode")
        else:
            setattr(vol, key, None if x is None else decode.integer(x, f"volume.{key}"))
    vol.set_defaults()
    vol.validate()
    return vol


def _decode_image(v: Any) -> RuntimeImage:
    img = RuntimeImage("")
    for key, x in decode.fields(v, _RI_FIELDS, "schema.RuntimeImage", "RuntimeApp.image"):
        if key == "name":
            img.name = None if x is None else check_ac_identifier(
                decode.string(x))
        elif key == "id":
            img.id = check_hash(decode.string(x))
        else:
            img.labels = decode_labels(x)
    return img


def _decode_mount(v: Any) -> Mount:
    m = Mount("", "")
    for key, x in decode.fields(v, _MOUNT_FIELDS, "schema.Mount"):
        if key == "volume":
            m.volume = check_ac_name(decode.string(x))
        elif key == "path":
            m.path = decode.string(x, "Mount.path")
        else:
            m.app_volume = None if x is None else decode_volume(x)
    return m


def _decode_runtime_app(v: Any) -> RuntimeApp:
    ra = RuntimeApp("", RuntimeImage(""))
    for key, x in decode.fields(v, _RA_FIELDS, "schema.RuntimeApp"):
        if key == "name":
            ra.name = check_ac_name(decode.string(x))
        elif key == "image":
            ra.image = _decode_image(x)
        elif key == "app":
            ra.app = decode_app(x)
        elif key == "readOnlyRootFS":
            ra.read_only_rootfs = decode.boolean(x, "RuntimeApp.readOnlyRootFS")
        elif key == "mounts":
            ra.mounts = [_decode_mount(m) for m in decode.array(x, gotype="[]schema.Mount") or ()]
        else:
            ra.annotations = decode_annotations(x)
    return ra


def _decode_exposed_port(v: Any) -> ExposedPort:
    ep = ExposedPort("", 0)
    for key, x in decode.fields(v, _EP_FIELDS, "types.ExposedPort"):
        if key == "name":
            ep.name = check_ac_name(decode.string(x))
        elif key == "hostPort":
            ep.host_port = decode.integer(x, "ExposedPort.hostPort", "uint")
        elif key == "hostIP":
            s = decode.string(x, "ExposedPort.hostIP", "net.IP")
            ep.host_ip = canonical_ip(s) if s else None
        else:
            ep.pod_port = None if x is None else decode_port(x)
    return ep


def decode_pod_manifest(doc: Any) -> PodManifest:
    """Build a ``PodManifest`` from ``gojson.loads`` output; ``ValueError`` if invalid."""
    pm = PodManifest(ac_kind="")
    for key, x in decode.fields(doc, _PM_FIELDS, "schema.podManifest"):
        try:
            _decode_pm_field(pm, key, x)
        except decode.GoTypeError as e:
            raise e.in_field("podManifest", key) from None
    if pm.ac_kind != POD_MANIFEST_KIND:
        raise ValueError(f"missing or bad ACKind (must be {go_quote(POD_MANIFEST_KIND)})")
    return pm


def _decode_pm_field(pm: PodManifest, key: str, x: Any) -> None:
    if key == "acVersion":
        pm.ac_version = decode_semver(x)
    elif key == "acKind":
        pm.ac_kind = decode_ac_kind(x)
    elif key == "apps":
        items = decode.array(x, gotype="schema.appList")
        pm.apps = None if items is None else [_decode_runtime_app(a) for a in items]
        seen = set()
        for ra in pm.apps or ():
            if ra.name in seen:
                raise ValueError(f"duplicate apps of name {go_quote(ra.name)}")
            seen.add(ra.name)
    elif key == "volumes":
        items = decode.array(x, gotype="[]types.Volume")
        pm.volumes = None if items is None else [decode_volume(i) for i in items]
    elif key == "isolators":
        items = decode.array(x, gotype="[]types.Isolator")
        pm.isolators = None if items is None else [decode_isolator(i) for i in items]
    elif key == "annotations":
        pm.annotations = None if x is None else decode_annotations(x)
    elif key == "ports":
        items = decode.array(x, gotype="[]types.ExposedPort")
        pm.ports = None if items is None else [_decode_exposed_port(p) for p in items]
    elif key == "userAnnotations":
        pm.user_annotations = decode.string_map(x, "podManifest.userAnnotations") or {}
    else:
        pm.user_labels = decode.string_map(x, "podManifest.userLabels") or {}
