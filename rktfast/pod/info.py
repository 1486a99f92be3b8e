"""What list and status show about a pod (SPEC §2 "list", "status", api/v1 JSON schemas)."""

from __future__ import annotations

from rktfast.pod import pods

APP_STATE_FROM_POD = {
    pods.EMBRYO: "unknown", pods.PREPARING: "unknown", pods.ABORTED_PREPARE: "unknown",
    pods.PREPARED: "created", pods.RUNNING: "running",
    pods.DELETING: "exited", pods.EXITED_DELETING: "exited", pods.EXITED: "exited",
    pods.EXITED_GARBAGE: "exited", pods.GARBAGE: "exited",
}


def _ns(t: int | None) -> int | None:
    return t


def image_name(pod: pods.Pod, app: str) -> str:
    """``name:version`` from ``appsinfo/<app>/manifest`` (survives ``image rm``)."""
    from rktfast.output.gojson import get_ci, loads

    m = loads(pod.read_text(f"appsinfo/{app}/manifest"))
    name = get_ci(m, "name")
    if not isinstance(name, str):
        raise ValueError("invalid image manifest")
    for lb in get_ci(m, "labels") or []:
        if get_ci(lb, "name") == "version":
            return f"{name}:{get_ci(lb, 'value')}"
    return name


NETINFO_FIELDS = ("netName", "netConf", "pluginPath", "ifName", "ip", "args", "mask")


def api_nets(nets: list) -> list[dict]:
    """net-info.json entries as rkt's NetInfo JSON: its seven fields only, and only networks
    that got an address (stage0 records a network before its CNI ADD, so a failed or
    unfinished ADD can still be undone)."""
    return [{k: n.get(k) or "" for k in NETINFO_FIELDS} for n in nets
            if isinstance(n, dict) and n.get("ip")]


def fmt_nets(nets: list) -> str:
    return ", ".join(f"{n['netName']}:ip4={n['ip']}" for n in api_nets(nets))


def _app_v1(pod: pods.Pod, ra: dict, volumes: dict) -> dict:
    name = ra.get("name", "")
    app = {"name": name, "state": APP_STATE_FROM_POD.get(pod.state, "unknown")}
    created = _ns(pod.creation_time())
    code = pod.app_exit_code(name)
    if code is not None:
        app["state"] = "exited"
    if created is not None:
        app["created_at"] = created
    started = _ns(pod.start_time())
    if started is not None:
        app["started_at"] = started
    finished = _ns(pod.gc_marked_time())
    if finished is not None:
        app["finished_at"] = finished
    if code is not None:
        app["exit_code"] = code
    app["image_id"] = (ra.get("image") or {}).get("id", "")
    mounts = []
    for m in ra.get("mounts") or []:
        av = m.get("appVolume") or volumes.get(m.get("volume")) or {}
        mounts.append({"name": m.get("volume", ""), "container_path": m.get("path", ""),
                       "host_path": av.get("source", ""),
                       "read_only": bool(av.get("readOnly", False))})
    if mounts:
        app["mounts"] = mounts
    spec = ra.get("app") or {}
    for src, dst in (("userAnnotations", "user_annotations"), ("userLabels", "user_labels")):
        if spec.get(src):
            from rktfast.output.gojson import GoMap

            app[dst] = GoMap(spec[src])
    return app


def pod_v1(pod: pods.Pod) -> dict:
    """The api/v1 ``Pod`` object of a pod (list/status ``--format=json``)."""
    out: dict = {"name": pod.uuid, "state": pod.state}
    nets = api_nets(pod.nets())
    if nets:
        out["networks"] = nets
    created = pod.creation_time()
    started = pod.start_time()
    if pod.manifest_available():
        pm = pod.manifest()
        apps = pm.get("apps") or []
        if apps:
            out["app_names"] = [a.get("name", "") for a in apps]
            volumes = {v.get("name"): v for v in pm.get("volumes") or [] if isinstance(v, dict)}
            out["apps"] = [_app_v1(pod, a, volumes) for a in apps]
    if created is not None:
        out["created_at"] = created // 1_000_000_000
    if started is not None:
        out["started_at"] = started // 1_000_000_000
    if pod.manifest_available():
        from rktfast.output.gojson import GoMap

        pm = pod.manifest()
        if pm.get("userAnnotations"):
            out["user_annotations"] = GoMap(pm["userAnnotations"])
        if pm.get("userLabels"):
            out["user_labels"] = GoMap(pm["userLabels"])
    return out


def status_lines(pod: pods.Pod) -> list[str]:
    """``rkt status`` key=value lines, in rkt's order."""
    import time

    from rktfast.output.timefmt import go_time

    state = pod.state
    lines = [f"state={state}", f"created={go_time(_ns(pod.creation_time()))}"]
    started = pod.start_time()
    if started is not None:
        lines.append(f"started={go_time(_ns(started))}")
    if state in (pods.RUNNING, pods.EXITED):
        lines.append(f"networks={fmt_nets(pod.nets())}")
    if state in (pods.RUNNING, pods.DELETING, pods.EXITED_DELETING, pods.EXITED,
                 pods.EXITED_GARBAGE):
        deadline = time.monotonic() + 1.0
        while True:
            try:
                pid = pod.pid()
                break
            except (OSError, ValueError):
                if time.monotonic() >= deadline:
                    from rktfast.errors import PodError

                    raise PodError(f'unable to get PID for pod "{pod.uuid}"') from None
                time.sleep(0.1)
        lines.append(f"pid={pid}")
        lines.append(f"exited={'true' if state in (pods.EXITED, pods.EXITED_GARBAGE) else 'false'}")
        if state != pods.RUNNING:
            for app, code in sorted(pod.exit_codes().items()):
                lines.append(f"app-{app}={code}")
    return lines
