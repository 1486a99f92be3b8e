"""rkt run [flags] IMAGE [-- args…]…: prepare a pod and exec its stage1 in this process."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.prepare import APP_FLAGS, POD_FLAGS
from rktfast.errors import PodError, RktError

RUN_ONLY_FLAGS = [
    Flag("net", str, "default", "configure the pod's networking. Optionally, pass a list of "
         "user-configured networks to load and set arguments to pass to each network, "
         "respectively. Syntax: --net[=n[:args], ...]", implicit="default"),
    Flag("private-net", str, "", hidden=True, implicit="default"),
    Flag("dns", "list", None, "name servers to write in /etc/resolv.conf. Pass 'host' to use "
         "host's resolv.conf. Pass 'none' to ignore CNI DNS config"),
    Flag("dns-search", "list", None, "DNS search domains to write in /etc/resolv.conf"),
    Flag("dns-opt", "list", None, "DNS options to write in /etc/resolv.conf"),
    Flag("dns-domain", str, "", "DNS domain to write in /etc/resolv.conf"),
    Flag("hosts-entry", "list", None, "Entries to add to the pod-wide /etc/hosts. Pass 'host' "
         "to use the host's /etc/hosts"),
    Flag("hostname", str, "", 'pod\'s hostname. If empty, it will be "rkt-$PODUUID"'),
    Flag("interactive", bool, False, "run pod interactively. If true, only one image may be "
         "supplied."),
    Flag("mds-register", bool, False, "register pod with metadata service. needs network "
         "connectivity to the host (--net=(default|default-restricted|host)"),
    Flag("uuid-file-save", str, "", "write out pod UUID to specified file"),
    Flag("ipc", str, "", "IPC namespace mode: auto, private or parent"),
]


def net_flag(ctx: Context) -> str:
    """--net (or the 0.5 --private-net); 0.5's default was the host network when asked for."""
    import os

    from rktfast.pod.cliargs import parse_net

    f = ctx.flags
    if "net" in ctx.set_flags:
        return parse_net(f["net"])
    if f.get("private-net"):
        return parse_net(f["private-net"])
    if os.environ.get("RKTFAST_LEGACY_NET") == "host":
        return "host"
    return "default"


def dns_config(ctx: Context):
    """rkt's parseDNSFlags: (resolv mode, hosts mode, resolv data, hosts entries)."""
    f = ctx.flags
    if not (f.get("dns") or f.get("dns-search") or f.get("dns-opt") or f.get("dns-domain")
            or f.get("hosts-entry")):
        return "default", "default", {"nameservers": [], "search": [], "options": [],
                                      "domain": ""}, []
    import ipaddress

    resolv_mode, hosts_mode = "default", "default"
    dns = f.get("dns") or []
    nameservers: list[str] = []
    for d in dns:
        if d in ("host", "none"):
            if len(dns) > 1:
                raise RktError("error with dns flags", RktError(
                    f"no other --dns options allowed when --dns={d} is passed"))
            resolv_mode = d
            break
        for ip in d.split(","):
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise RktError("error with dns flags",
                               RktError(f"Invalid IP passed to --dns: {ip}")) from None
            nameservers.append(ip)
    resolv = {"nameservers": nameservers, "search": f.get("dns-search") or [],
              "options": f.get("dns-opt") or [], "domain": f.get("dns-domain") or ""}
    if nameservers or resolv["search"] or resolv["options"] or resolv["domain"]:
        if resolv_mode == "default":
            resolv_mode = "stage0"
        if resolv_mode != "stage0":
            raise RktError("error with dns flags", RktError(
                "Cannot call --dns-opt, --dns-search, or --dns-domain with "
                f"--dns={resolv_mode}"))
    entries: dict[str, list[str]] = {}
    hosts = f.get("hosts-entry") or []
    for entry in hosts:
        if entry == "host":
            if len(hosts) != 1:
                raise RktError("error with dns flags", RktError(
                    "cannot pass --hosts-entry=host with multiple hosts-entries"))
            hosts_mode = "host"
            break
        for item in entry.split(","):
            ip, eq, name = item.partition("=")
            if not eq:
                raise RktError("error with dns flags",
                               RktError(f"Did not understand --hosts-entry {item}"))
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise RktError("error with dns flags",
                               RktError(f"Invalid IP passed to --hosts-entry: {ip}")) from None
            entries.setdefault(ip, []).append(name)
    if entries:
        hosts_mode = "stage0"
    return resolv_mode, hosts_mode, resolv, list(entries.items())


def launch_config(ctx: Context, net: str, use_overlay: bool):
    from rktfast.stage1.launch import RunOptions
    from rktfast.stage1.stage0 import LaunchConfig

    f = ctx.flags
    if f.get("mds-register") and net == "none":
        raise RktError("--mds-register flag does not work with --net=none. Please use "
                         "'host', 'default' or an equivalent network")
    resolv_mode, hosts_mode, resolv, hosts = dns_config(ctx)
    g = ctx.globals
    opts = RunOptions(net=net, debug=g.debug, interactive=bool(f.get("interactive")),
                      local_config=g.local_config, hostname=f.get("hostname") or "",
                      dns_resolv=resolv_mode, dns_hosts=hosts_mode,
                      insecure_capabilities=g.insecure("capabilities"),
                      insecure_paths=g.insecure("paths"), insecure_seccomp=g.insecure("seccomp"),
                      ipc=f.get("ipc") or "", warn=lambda line: ctx.warn(line, "stage0"))
    if opts.ipc and opts.ipc not in ("auto", "private", "parent"):
        raise RktError(f'invalid argument "{opts.ipc}" for "--ipc" flag: must be one of '
                         '"auto", "private" or "parent"')
    return LaunchConfig(use_overlay=use_overlay, run=opts, resolv=resolv, hosts=hosts,
                        mds_register=bool(f.get("mds-register")),
                        local_config=g.local_config, data_dir=g.dir)


def run(ctx: Context) -> int:
    from rktfast.cli.common import open_store
    from rktfast.cli.prepare import build_request, parse_command_line, prepare_common
    from rktfast.stage1.stage0 import launch

    images = parse_command_line(ctx)
    f = ctx.flags
    net = net_flag(ctx)
    if f.get("port") and net in ("none", "host"):
        raise RktError(f"--port flag does not work with '{net}' networking")
    if f.get("interactive") and len(images) > 1:
        raise RktError("interactive option only supports one image")
    req = build_request(ctx, images)
    store, trees = open_store(ctx)
    try:
        lcfg = launch_config(ctx, net, not f.get("no-overlay"))
        pod, overlay = prepare_common(ctx, images, req, store, trees)
        lcfg.use_overlay = overlay
        try:
            pod.to_run()
        except PodError as e:
            pod.close()
            raise PodError("unable to transition to run", e) from e
        if f.get("interactive") and len(pod.app_names()) > 1:
            raise RktError("interactive option only supports one image")
        launch(pod, trees, lcfg, close_before_exec=(store.close_for_exec,))
    finally:
        try:
            store.close()
        except Exception:
            pass
    return 254


COMMAND = Command(
    name="run", summary="Run image(s) in a pod in rkt",
    usage="rkt run [--volume=name,kind=host,...] [--mount volume=VOL,target=PATH] IMAGE "
          "[-- image-args...[---]]...",
    run=run, flags=[*POD_FLAGS, *RUN_ONLY_FLAGS, *APP_FLAGS], needs_root=True,
    interspersed=False)
