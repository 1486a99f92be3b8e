"""Garbage collection and removal of pods (SPEC §4 "gc", "rm").

gc marks first (exited -> exited-garbage, aborted prepares and abandoned embryos ->
garbage, expired prepared -> garbage), then deletes marked pods whose mark is older than the grace period. Deleting an
exited pod runs the stage1's ``gc`` entrypoint (with its overlay mounted again if needed),
unmounts whatever is left under the pod, and removes the directory. Races with other rkt
commands are settled by the pod locks and by renames that fail with ENOENT.
"""

from __future__ import annotations

import os
import time

from rktfast.errors import PodError
from rktfast.pod import pods
from rktfast.record import Record


class Reporter(Record):
    # out(line) writes a stdout line, err(line) a stderr line ("gc: " / "rm: " prefixed by
    # the caller)
    __slots__ = ("out", "err")


def _gone(e: BaseException) -> bool:
    c = e
    while c is not None:
        if isinstance(c, FileNotFoundError):
            return True
        c = getattr(c, "cause", None) or c.__cause__
    return False


def mark_exited(data_dir: str, rep: Reporter) -> None:
    for pod in pods.walk_pods(data_dir, ("run",)):
        if pod.state == pods.EXITED:
            rep.err(f'moving pod "{pod.uuid}" to garbage')
            try:
                pod.to_exited_garbage()
            except PodError as e:
                if not _gone(e):
                    rep.err(f"rename error: {e.chain()[-1]}")


def mark_aborted(data_dir: str, rep: Reporter) -> None:
    for pod in pods.walk_pods(data_dir, ("prepare",)):
        if pod.state == pods.ABORTED_PREPARE:
            rep.err(f'moving failed prepare "{pod.uuid}" to garbage')
            try:
                pod.to_garbage()
            except PodError as e:
                if not _gone(e):
                    rep.err(f"rename error: {e.chain()[-1]}")


# An embryo lives for the few microseconds between its mkdir and the locked rename to
# prepare/, and holds no lock meanwhile (SPEC §4); one that old was left by a killed rkt.
EMBRYO_ABANDONED_NS = 60 * 1_000_000_000


def mark_abandoned_embryos(data_dir: str, rep: Reporter) -> None:
    """Beyond rkt, which leaves them forever: move embryos older than a minute (by their
    mtime: nothing writes into an embryo) to garbage/, where the sweep deletes them."""
    now = time.time_ns()
    embryo = pods.pods_dir(data_dir, "embryo")
    try:
        names = os.listdir(embryo)
    except FileNotFoundError:
        return
    for uuid in names:
        try:
            if os.lstat(os.path.join(embryo, uuid)).st_mtime_ns + EMBRYO_ABANDONED_NS > now:
                continue
            rep.err(f'moving failed prepare "{uuid}" to garbage')
            os.rename(os.path.join(embryo, uuid),
                      os.path.join(pods.pods_dir(data_dir, "garbage"), uuid))
        except FileNotFoundError:
            continue  # a racing gc took it, or its creator moved on
        except OSError as e:
            rep.err(f"rename error: {e}")


def mark_expired(data_dir: str, expire_ns: int, rep: Reporter) -> None:
    now = time.time_ns()
    for pod in pods.walk_pods(data_dir, ("prepared",)):
        try:
            st = os.lstat(pod.path)
        except FileNotFoundError:
            continue
        if st.st_ctime_ns + expire_ns < now:
            rep.err(f'moving expired prepared pod "{pod.uuid}" to garbage')
            try:
                pod.to_garbage()
            except PodError as e:
                if not _gone(e):
                    rep.err(f"rename error: {e.chain()[-1]}")


def sweep_exited_garbage(data_dir: str, grace_ns: int, rep: Reporter, ctx_gc) -> None:
    from rktfast.units import format_duration

    now = time.time_ns()
    for pod in pods.walk_pods(data_dir, ("exited-garbage",)):
        try:
            st = os.lstat(pod.path)
        except FileNotFoundError:
            continue
        if st.st_ctime_ns + grace_ns < now:
            if not pod.exclusive_lock(blocking=False):
                continue
            rep.out(f'Garbage collecting pod "{pod.uuid}"')
            delete_pod(pod, rep, ctx_gc)
        else:
            rep.err(f'pod "{pod.uuid}" not removed: still within grace period '
                    f"({format_duration(grace_ns)})")


def sweep_garbage(data_dir: str, rep: Reporter, ctx_gc) -> None:
    for pod in pods.walk_pods(data_dir, ("garbage",)):
        if not pod.exclusive_lock(blocking=False):
            continue
        rep.out(f'Garbage collecting pod "{pod.uuid}"')
        delete_pod(pod, rep, ctx_gc)


class StageGC(Record):
    """What deleting an exited pod needs: the tree store (to re-mount stage1) and flags."""

    __slots__ = ("trees", "debug", "local_config")


def _mount_stage1(pod: pods.Pod, trees) -> None:
    from rktfast.pod.mounts import is_mountpoint, mount_overlay

    if not pod.uses_overlay():
        return
    tid = pod.stage1_tree_id()
    target = os.path.join(pod.path, "stage1", "rootfs")
    if is_mountpoint(target):
        return
    img = os.path.join(pod.path, "overlay", tid)
    mount_overlay(trees.rootfs(tid), os.path.join(img, "upper"), os.path.join(img, "work"),
                  target)


def delete_pod(pod: pods.Pod, rep: Reporter, ctx_gc: StageGC) -> bool:
    """Remove a garbage pod (EX-locked by the caller): stage1 gc, unmounts, files."""
    from rktfast.pod.mounts import unmount_tree

    state = pod.state
    if pod.where not in ("exited-garbage", "garbage"):
        rep.err(f'non-garbage pod "{pod.uuid}" (status "{state}"), skipped')
        return False
    path = pod.path
    if pod.where == "exited-garbage":
        # Networks first: CNI DEL needs the pod's netns, which the stage1 gc unmounts.
        if pod.exists("net-info.json") or pod.exists("netns"):
            try:
                from rktfast.net.podnet import teardown

                teardown(path, pod.uuid, os.path.join(path, "stage1", "rootfs"),
                         ctx_gc.local_config)
            except Exception as e:
                rep.err(f'problem tearing down the network of "{pod.uuid}": {e}')
        try:
            _mount_stage1(pod, ctx_gc.trees)
        except Exception as e:
            rep.err(f"skipping stage1 GC: {e}")
        else:
            try:
                from rktfast.stage1.launch import run_gc

                run_gc(path, pod.uuid, ctx_gc.debug, ctx_gc.local_config)
            except Exception as e:
                msg = e.chain()[-1] if isinstance(e, PodError) else str(e)
                rep.err(f'problem performing stage1 GC on "{pod.uuid}": {msg}')
        if pod.exists("mds-registered"):
            try:
                from rktfast.mds.client import unregister_pod

                unregister_pod(pod.uuid)
            except Exception as e:
                rep.err(f"warning: could not unregister pod with metadata service: {e}")
    try:
        unmount_tree(path)
    except PodError as e:
        rep.err(f'GC of leftover mounts for pod "{pod.uuid}" failed: {e.chain()[-1]}')
        return False
    import shutil  # only when a pod is really deleted: it costs a periodic `rkt gc` ~10 ms

    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        rep.err(f'unable to remove pod "{pod.uuid}": {e}')
        return False
    return True


def remove_pod(pod: pods.Pod, rep: Reporter, ctx_gc: StageGC) -> bool:
    """rkt rm: move the pod to the garbage if it is not, then delete it now."""
    s = pod.state
    if s == pods.RUNNING:
        rep.err(f'pod "{pod.uuid}" is currently running')
        return False
    if s in (pods.EMBRYO, pods.PREPARING):
        rep.err(f'pod "{pod.uuid}" is currently being prepared')
        return False
    if s in (pods.DELETING, pods.EXITED_DELETING):
        rep.err(f'pod "{pod.uuid}" is currently being deleted')
        return False
    try:
        if s == pods.ABORTED_PREPARE:
            rep.err(f'moving failed prepare "{pod.uuid}" to garbage')
            pod.to_garbage()
        elif s == pods.PREPARED:
            rep.err(f'moving expired prepared pod "{pod.uuid}" to garbage')
            pod.to_garbage()
        elif s == pods.EXITED:
            pod.to_exited_garbage()
    except PodError as e:
        if not _gone(e):
            rep.err(f"rename error: {e.chain()[-1]}")
            return False
    if not pod.exclusive_lock(blocking=False):
        rep.err(f'unable to acquire exclusive lock: pod "{pod.uuid}" is busy')
        return False
    pod.refresh()
    return delete_pod(pod, rep, ctx_gc)
