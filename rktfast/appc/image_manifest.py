"""The appc 0.8.11 ImageManifest: parsed and validated like appc's Go types, written like Go.

``ImageManifest.parse`` matches keys case-insensitively, drops unknown keys and applies appc's
validation in document order (the first failing field wins, as in Go). ``to_json`` writes
appc's field order with Go's ``omitempty`` rules: compact, or TAB-indented when ``pretty``.
Errors are ``ImageError`` with appc's one-line messages.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rktfast.appc import decode
from rktfast.appc.isolators import Isolator, decode_isolator, validate_app_isolators
from rktfast.appc.types import (
    Label,
    canonical_semver,
    check_ac_identifier,
    check_ac_name,
    check_hash,
    is_env_name,
    validate_labels,
)
from rktfast.errors import ImageError
from rktfast.output.gojson import GoMap, JSONSyntaxError, dumps, loads
from rktfast.output.goquote import go_quote
from rktfast.record import Record

IMAGE_MANIFEST_KIND = "ImageManifest"


class EventHandler(Record):
    """``{"name": "pre-start"|"post-stop", "exec": [...]}``."""

    __slots__ = ("name", "exec")
    name: str
    exec: list[str] | None

    def to_go(self) -> dict[str, Any]:
        return {"name": self.name, "exec": self.exec}


class EnvironmentVariable(Record):
    """``{"name", "value"}`` of an app's environment."""

    __slots__ = ("name", "value")
    name: str
    value: str

    def to_go(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value}


class MountPoint(Record):
    """A path in the app where a volume is expected (``readOnly`` omitted when false)."""

    __slots__ = ("name", "path", "read_only")
    _defaults: ClassVar[dict[str, Any]] = {"read_only": False}
    name: str
    path: str
    read_only: bool

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "path": self.path}
        if self.read_only:
            d["readOnly"] = True
        return d


class Port(Record):
    """A port the app listens on; ``count`` defaults to 1."""

    __slots__ = ("name", "protocol", "port", "count", "socket_activated")
    _defaults: ClassVar[dict[str, Any]] = {"count": 1, "socket_activated": False}
    name: str
    protocol: str
    port: int
    count: int
    socket_activated: bool

    def to_go(self) -> dict[str, Any]:
        return {"name": self.name, "protocol": self.protocol, "port": self.port,
                "count": self.count, "socketActivated": self.socket_activated}


class Annotation(Record):
    """``{"name", "value"}`` (name an ACIdentifier)."""

    __slots__ = ("name", "value")
    name: str
    value: str

    def to_go(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value}


class Dependency(Record):
    """An image this one is layered on; ``image_id`` optional, ``size`` 0 when unknown."""

    __slots__ = ("image_name", "image_id", "labels", "size")
    _defaults: ClassVar[dict[str, Any]] = {"image_id": None, "labels": list, "size": 0}
    image_name: str
    image_id: str | None
    labels: list[Label]
    size: int

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"imageName": self.image_name}
        if self.image_id is not None:
            d["imageID"] = self.image_id
        if self.labels:
            d["labels"] = self.labels
        if self.size:
            d["size"] = self.size
        return d


class App(Record):
    """The ``app`` section: what to run and how (shared by image and pod manifests)."""

    __slots__ = (
        "exec", "user", "group", "event_handlers", "supplementary_gids",
        "working_directory", "environment", "mount_points", "ports", "isolators",
        "user_annotations", "user_labels",
    )
    _defaults: ClassVar[dict[str, Any]] = {
        "exec": None,
        "user": "",
        "group": "",
        "event_handlers": list,
        "supplementary_gids": list,
        "working_directory": "",
        "environment": list,
        "mount_points": list,
        "ports": list,
        "isolators": list,
        "user_annotations": dict,
        "user_labels": dict,
    }
    exec: list[str] | None
    user: str
    group: str
    event_handlers: list[EventHandler]
    supplementary_gids: list[int]
    working_directory: str
    environment: list[EnvironmentVariable]
    mount_points: list[MountPoint]
    ports: list[Port]
    isolators: list[Isolator]
    user_annotations: dict[str, str]
    user_labels: dict[str, str]

    def env(self, name: str) -> str | None:
        """The value of environment variable ``name``, or None."""
        for ev in self.environment:
            if ev.name == name:
                return ev.value
        return None

    def set_env(self, name: str, value: str) -> None:
        """Set (or replace in place) an environment variable, like appc's ``Environment.Set``."""
        for ev in self.environment:
            if ev.name == name:
                ev.value = value
                return
        self.environment.append(EnvironmentVariable(name, value))

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"exec": self.exec}
        if self.event_handlers:
            d["eventHandlers"] = self.event_handlers
        d["user"] = self.user
        d["group"] = self.group
        if self.supplementary_gids:
            d["supplementaryGIDs"] = self.supplementary_gids
        if self.working_directory:
            d["workingDirectory"] = self.working_directory
        if self.environment:
            d["environment"] = self.environment
        if self.mount_points:
            d["mountPoints"] = self.mount_points
        if self.ports:
            d["ports"] = self.ports
        if self.isolators:
            d["isolators"] = self.isolators
        if self.user_annotations:
            d["userAnnotations"] = GoMap(self.user_annotations)
        if self.user_labels:
            d["userLabels"] = GoMap(self.user_labels)
        return d


class ImageManifest(Record):
    """An appc image manifest. Build one directly or with ``ImageManifest.parse``."""

    __slots__ = (
        "name", "ac_version", "ac_kind", "labels", "app", "annotations", "dependencies",
        "path_whitelist",
    )
    _defaults: ClassVar[dict[str, Any]] = {
        "ac_version": "0.8.11",
        "ac_kind": IMAGE_MANIFEST_KIND,
        "labels": list,
        "app": None,
        "annotations": list,
        "dependencies": list,
        "path_whitelist": list,
    }
    name: str
    ac_version: str
    ac_kind: str
    labels: list[Label]
    app: App | None
    annotations: list[Annotation]
    dependencies: list[Dependency]
    path_whitelist: list[str]

    @classmethod
    def parse(cls, data: bytes | str) -> ImageManifest:
        """Parse and validate manifest JSON; raises ``ImageError`` with a one-line message."""
        try:
            doc = loads(data)
        except JSONSyntaxError as e:
            raise ImageError(f"image manifest is not valid JSON: error at line {e.line}, "
                             f"column {e.column}: {e}") from None
        try:
            return decode_image_manifest(doc)
        except ValueError as e:
            raise ImageError(str(e)) from None

    def label(self, name: str) -> str | None:
        """The value of label ``name``, or None."""
        for lb in self.labels:
            if lb.name == name:
                return lb.value
        return None

    def annotation(self, name: str) -> str | None:
        """The value of annotation ``name``, or None."""
        return get_annotation(self.annotations, name)

    @property
    def version(self) -> str | None:
        """The ``version`` label, or None."""
        return self.label("version")

    def to_go(self) -> dict[str, Any]:
        d: dict[str, Any] = {"acKind": self.ac_kind, "acVersion": self.ac_version,
                             "name": self.name}
        if self.labels:
            d["labels"] = self.labels
        if self.app is not None:
            d["app"] = self.app
        if self.annotations:
            d["annotations"] = self.annotations
        if self.dependencies:
            d["dependencies"] = self.dependencies
        if self.path_whitelist:
            d["pathWhitelist"] = self.path_whitelist
        return d

    def to_json(self, pretty: bool = False) -> str:
        """Go's ``json.Marshal`` (or ``MarshalIndent`` with a TAB when ``pretty``)."""
        return dumps(self, pretty=pretty)


def get_annotation(annotations: list[Annotation], name: str) -> str | None:
    """The value of annotation ``name`` in ``annotations``, or None."""
    for a in annotations:
        if a.name == name:
            return a.value
    return None


# --- decoding (values from gojson.loads; ValueError with appc's messages) ------------------

_IM_FIELDS = decode.field_table("acKind", "acVersion", "name", "labels", "app", "annotations",
                                "dependencies", "pathWhitelist")
_APP_FIELDS = decode.field_table(
    "exec", "eventHandlers", "user", "group", "supplementaryGIDs", "workingDirectory",
    "environment", "mountPoints", "ports", "isolators", "userAnnotations", "userLabels")
_NV_FIELDS = decode.field_table("name", "value")
_EH_FIELDS = decode.field_table("name", "exec")
_MP_FIELDS = decode.field_table("name", "path", "readOnly")
_PORT_FIELDS = decode.field_table("name", "protocol", "port", "count", "socketActivated")
_DEP_FIELDS = decode.field_table("imageName", "imageID", "labels", "size")


def decode_ac_kind(v: Any) -> str:
    """An ``acKind`` value: ``ImageManifest`` or ``PodManifest``."""
    s = decode.string(v)
    if s in ("ImageManifest", "PodManifest"):
        return s
    if s == "":
        raise ValueError("ACKind must be set")
    raise ValueError(f"bad ACKind: {s}")


def decode_semver(v: Any) -> str:
    """An ``acVersion``, returned in go-semver's canonical form."""
    return canonical_semver(decode.string(v))


def decode_labels(v: Any) -> list[Label]:
    """A ``labels`` array, validated as a set (appc ``Labels``)."""
    labels = []
    for item in decode.array(v, gotype="types.labels") or ():
        name, value = "", ""
        for key, x in decode.fields(item, _NV_FIELDS, "types.Label"):
            if key == "name":
                name = check_ac_identifier(decode.string(x))
            else:
                value = decode.string(x, "Label.value")
        labels.append(Label(name, value))
    validate_labels(labels)
    return labels


_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?"
                      r"(Z|[+-](\d{2}):(\d{2}))$")


def _check_date(s: str) -> None:
    # Go's time.Parse(time.RFC3339, s) as appc's NewDate wraps it.
    import calendar

    m = _RFC3339.match(s)
    if m is None:
        raise ValueError(f"bad Date: parsing time {go_quote(s)} as "
                         f'"2006-01-02T15:04:05Z07:00": cannot parse {go_quote(s)}')
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    for name, bad in (("month", not 1 <= mo <= 12), ("day", not 1 <= d <= 31),
                      ("hour", h >= 24), ("minute", mi >= 60), ("second", sec >= 60),
                      ("day", d > calendar.monthrange(y, mo)[1])):
        if bad:
            raise ValueError(f"bad Date: parsing time {go_quote(s)}: {name} out of range")


def _check_url(s: str) -> None:
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):", s)
    if m is None or m.group(1).lower() not in ("http", "https"):
        raise ValueError("bad URL scheme, must be http/https")


def decode_annotations(v: Any) -> list[Annotation]:
    """An ``annotations`` array (appc ``Annotations``: unique names, checked well-known ones)."""
    out: list[Annotation] = []
    seen: dict[str, str] = {}
    for item in decode.array(v, gotype="types.annotations") or ():
        name, value = "", ""
        for key, x in decode.fields(item, _NV_FIELDS, "types.Annotation"):
            if key == "name":
                name = check_ac_identifier(decode.string(x))
            else:
                value = decode.string(x, "Annotation.value")
        out.append(Annotation(name, value))
    for a in out:
        if a.name in seen:
            raise ValueError(f"duplicate annotations of name {go_quote(a.name)}")
        seen[a.name] = a.value
    if "created" in seen:
        _check_date(seen["created"])
    for key in ("homepage", "documentation"):
        if key in seen:
            _check_url(seen[key])
    return out


def _decode_exec(v: Any) -> list[str] | None:
    return decode.string_list(v, gotype="types.exec")


def _decode_event_handler(v: Any) -> EventHandler:
    name, exec_ = "", None
    for key, x in decode.fields(v, _EH_FIELDS, "types.eventHandler"):
        if key == "name":
            name = decode.string(x, "eventHandler.name")
        else:
            exec_ = _decode_exec(x)
    if name not in ("pre-start", "post-stop"):
        if name == "":
            raise ValueError('eventHandler "name" cannot be empty')
        raise ValueError(f'bad eventHandler "name": {go_quote(name)}')
    return EventHandler(name, exec_)


def _decode_environment(v: Any) -> list[EnvironmentVariable]:
    env = []
    for item in decode.array(v, gotype="types.environment") or ():
        name, value = "", ""
        for key, x in decode.fields(item, _NV_FIELDS, "types.EnvironmentVariable"):
            if key == "name":
                name = decode.string(x, "EnvironmentVariable.name")
            else:
                value = decode.string(x, "EnvironmentVariable.value")
        env.append(EnvironmentVariable(name, value))
    validate_environment(env)
    return env


def validate_environment(env: list[EnvironmentVariable]) -> None:
    """appc ``Environment.assertValid``: valid, unique names."""
    seen = set()
    for ev in env:
        if not ev.name:
            raise ValueError("environment variable name must not be empty")
        if not is_env_name(ev.name):
            raise ValueError(f"environment variable does not have valid identifier "
                             f"{go_quote(ev.name)}")
        if ev.name in seen:
            raise ValueError(f"duplicate environment variable of name {go_quote(ev.name)}")
        seen.add(ev.name)


def _decode_mount_point(v: Any) -> MountPoint:
    mp = MountPoint("", "")
    for key, x in decode.fields(v, _MP_FIELDS, "types.MountPoint"):
        if key == "name":
            mp.name = check_ac_name(decode.string(x))
        elif key == "path":
            mp.path = decode.string(x, "MountPoint.path")
        else:
            mp.read_only = decode.boolean(x, "MountPoint.readOnly")
    return mp


def decode_port(v: Any) -> Port:
    """An app port (appc ``Port``: 1-65535, ``count`` 0 -> 1)."""
    p = Port("", "", 0, 0, False)
    for key, x in decode.fields(v, _PORT_FIELDS, "types.port"):
        if key == "name":
            p.name = check_ac_name(decode.string(x))
        elif key == "protocol":
            p.protocol = decode.string(x, "port.protocol")
        elif key == "port":
            p.port = decode.integer(x, "port.port", "uint")
        elif key == "count":
            p.count = decode.integer(x, "port.count", "uint")
        else:
            p.socket_activated = decode.boolean(x, "port.socketActivated")
    if not 1 <= p.port <= 65535:
        raise ValueError("port must be in 1-65535 range")
    if p.port + p.count > 65536:
        raise ValueError("end of port range must be in 1-65535 range")
    if p.count == 0:
        p.count = 1
    return p


def decode_app(v: Any) -> App | None:
    """An ``app`` section (null -> None), validated like appc's ``App``."""
    if v is None:
        return None
    app = App()
    for key, x in decode.fields(v, _APP_FIELDS, "types.app"):
        if key == "exec":
            app.exec = _decode_exec(x)
        elif key == "eventHandlers":
            app.event_handlers = [_decode_event_handler(e)
                                  for e in decode.array(x, gotype="[]types.EventHandler") or ()]
        elif key == "user":
            app.user = decode.string(x, "app.user")
        elif key == "group":
            app.group = decode.string(x, "app.group")
        elif key == "supplementaryGIDs":
            app.supplementary_gids = [decode.integer(g, "app.supplementaryGIDs")
                                      for g in decode.array(x, gotype="[]int") or ()]
        elif key == "workingDirectory":
            app.working_directory = decode.string(x, "app.workingDirectory")
        elif key == "environment":
            app.environment = _decode_environment(x)
        elif key == "mountPoints":
            app.mount_points = [_decode_mount_point(m)
                                for m in decode.array(x, gotype="[]types.MountPoint") or ()]
        elif key == "ports":
            app.ports = [decode_port(p) for p in decode.array(x, gotype="[]types.Port") or ()]
        elif key == "isolators":
            app.isolators = [decode_isolator(i)
                             for i in decode.array(x, gotype="types.Isolators") or ()]
        elif key == "userAnnotations":
            app.user_annotations = decode.string_map(x, "app.userAnnotations") or {}
        else:
            app.user_labels = decode.string_map(x, "app.userLabels") or {}
    validate_app(app)
    return app


def validate_app(app: App) -> None:
    """appc ``App.assertValid``: user/group set, absolute workingDirectory, sane handlers."""
    if app.user == "":
        raise ValueError("user is required")
    if app.group == "":
        raise ValueError("group is required")
    if app.working_directory and not app.working_directory.startswith("/"):
        raise ValueError("workingDirectory must be an absolute path")
    seen = set()
    for eh in app.event_handlers:
        if eh.name in seen:
            raise ValueError(f"Only one eventHandler of name {go_quote(eh.name)} allowed")
        seen.add(eh.name)
    validate_environment(app.environment)
    validate_app_isolators(app.isolators)


def _decode_dependency(v: Any) -> Dependency:
    dep = Dependency("")
    for key, x in decode.fields(v, _DEP_FIELDS, "types.dependency"):
        if key == "imageName":
            dep.image_name = check_ac_identifier(decode.string(x))
        elif key == "imageID":
            dep.image_id = None if x is None else check_hash(decode.string(x))
        elif key == "labels":
            dep.labels = decode_labels(x)
        else:
            dep.size = decode.integer(x, "dependency.size", "uint")
    if not dep.image_name:
        raise ValueError("imageName cannot be empty")
    return dep


def decode_image_manifest(doc: Any) -> ImageManifest:
    """Build an ``ImageManifest`` from ``gojson.loads`` output; ``ValueError`` if invalid."""
    im = ImageManifest(name="", ac_version="", ac_kind="")
    for key, x in decode.fields(doc, _IM_FIELDS, "schema.imageManifest"):
        try:
            _decode_im_field(im, key, x)
        except decode.GoTypeError as e:
            raise e.in_field("imageManifest", key) from None
    if im.ac_kind != IMAGE_MANIFEST_KIND:
        raise ValueError(f"missing or bad ACKind (must be {go_quote(IMAGE_MANIFEST_KIND)})")
    if not im.ac_version:
        raise ValueError("acVersion must be set")
    if not im.name:
        raise ValueError("name must be set")
    return im


def _decode_im_field(im: ImageManifest, key: str, x: Any) -> None:
    if key == "acKind":
        im.ac_kind = decode_ac_kind(x)
    elif key == "acVersion":
        im.ac_version = decode_semver(x)
    elif key == "name":
        im.name = check_ac_identifier(decode.string(x))
    elif key == "labels":
        im.labels = decode_labels(x)
    elif key == "app":
        im.app = decode_app(x)
    elif key == "annotations":
        im.annotations = decode_annotations(x)
    elif key == "dependencies":
        im.dependencies = [_decode_dependency(d)
                           for d in decode.array(x, gotype="types.Dependencies") or ()]
    else:
        im.path_whitelist = decode.string_list(x, "imageManifest.pathWhitelist") or []
