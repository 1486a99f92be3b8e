"""Pod directories and their lifecycle (SPEC §3 "Pod directory", §4).

A pod lives in exactly one of ``pods/{embryo,prepare,prepared,run,exited-garbage,garbage}/<uuid>``;
states move by ``rename(2)`` (followed by an fsync of the target parent where the state must
survive a power loss) and whether a directory is exclusively ``flock``-ed tells the states
of one directory apart:

    dir               locked            unlocked
    embryo/prepared   -                 embryo / prepared
    prepare           preparing         aborted prepare
    run               running           exited
    exited-garbage    exited deleting   exited garbage
    garbage           deleting          garbage

The lock is taken on the directory's own fd, so it follows the directory across renames, and
it dies with the process holding it: a crashed stage1 leaves an exited pod, never a stuck one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from rktfast import fastjson
from rktfast.errors import PodError

EMBRYO = "embryo"
PREPARING = "preparing"
ABORTED_PREPARE = "aborted prepare"
PREPARED = "prepared"
RUNNING = "running"
DELETING = "deleting"
EXITED_DELETING = "exited deleting"
EXITED = "exited"
EXITED_GARBAGE = "exited garbage"
GARBAGE = "garbage"

# Directory order matters: it is the order in which a pod moves through them.
DIRS = ("embryo", "prepare", "prepared", "run", "exited-garbage", "garbage")
# dir -> (state when unlocked, state when another process holds the lock)
_DIR_STATES = {
    "embryo": (EMBRYO, EMBRYO),
    "prepare": (ABORTED_PREPARE, PREPARING),
    "prepared": (PREPARED, PREPARED),
    "run": (EXITED, RUNNING),
    "exited-garbage": (EXITED_GARBAGE, EXITED_DELETING),
    "garbage": (GARBAGE, DELETING),
}
# The dirs whose pods a UUID prefix can name (rkt's matchUUID).
UUID_DIRS = ("prepare", "prepared", "run", "exited-garbage")
MOST_DIRS = ("prepare", "prepared", "run", "exited-garbage")

AFTER_RUN = (EXITED_DELETING, DELETING, EXITED, EXITED_GARBAGE, GARBAGE)


def pods_dir(data_dir: str, sub: str) -> str:
    return os.path.join(data_dir, "pods", sub)


def init_pods(data_dir: str) -> None:
    """Create the state directories (0750) if they are missing."""
    for d in DIRS:
        p = pods_dir(data_dir, d)
        if not os.path.isdir(p):
            os.makedirs(p, mode=0o750, exist_ok=True)


def new_uuid() -> str:
    """A random version 4 UUID in its canonical lowercase text form."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Pod:
    """One pod: its UUID, the directory it was found in, and an open fd on that directory.

    ``state`` reflects the moment the pod was opened (or last ``refresh``-ed); transitions
    update it. ``close()`` drops the fd and with it any lock this process holds.
    """

    def __init__(self, data_dir: str, uuid: str, where: str, fd: int, state: str,
                 created_by_me: bool = False):
        self.data_dir = data_dir
        self.uuid = uuid
        self.where = where  # one of DIRS, or "" when gone
        self.fd = fd
        self.state = state
        self.created_by_me = created_by_me
        self.locked = created_by_me  # we hold the exclusive lock
        self._nets: list | None = None

    # --- paths and files ------------------------------------------------------------------
    @property
    def path(self) -> str:
        return os.path.join(pods_dir(self.data_dir, self.where), self.uuid) if self.where else ""

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def read_text(self, name: str) -> str:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            chunks = []
            while True:
                b = os.read(fd, 1 << 16)
                if not b:
                    break
                chunks.append(b)
        finally:
            os.close(fd)
        return b"".join(chunks).decode("utf-8", "replace")

    def read_int(self, name: str) -> int:
        text = self.read_text(name).strip()
        num = ""
        for i, ch in enumerate(text):
            if ch.isdigit() or (i == 0 and ch in "+-"):
                num += ch
            else:
                break
        try:
            return int(num)
        except ValueError:
            raise PodError(f"invalid number in {name!r}: {text[:20]!r}") from None

    def mtime(self, name: str) -> int | None:
        """Modification time in ns since the epoch, None if the file does not exist."""
        try:
            return os.stat(name, dir_fd=self.fd).st_mtime_ns
        except FileNotFoundError:
            return None

    def exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            return True
        except OSError:
            return False

    def manifest_bytes(self) -> bytes:
        try:
            return self.read_text("pod").encode()
        except OSError as e:
            raise PodError("error reading pod manifest", e) from e

    def manifest(self) -> dict:
        """The pod manifest as plain JSON data."""
        raw = self.manifest_bytes()
        try:
            doc = fastjson.loads(raw)
        except ValueError as e:
            raise PodError("invalid pod manifest", e) from e
        if not isinstance(doc, dict):
            raise PodError("invalid pod manifest: not a JSON object")
        return doc

    def app_names(self) -> list[str]:
        return [a.get("name", "") for a in (self.manifest().get("apps") or [])]

    def manifest_available(self) -> bool:
        return self.state not in (PREPARING, ABORTED_PREPARE, DELETING, EMBRYO)

    def uses_overlay(self) -> bool:
        return self.exists("overlay-prepared")

    def stage1_tree_id(self) -> str:
        try:
            return self.read_text("stage1TreeStoreID").strip()
        except OSError as e:
            raise PodError("error getting stage1 treeStoreID", e) from e

    def stage1_rootfs_rel(self) -> str:
        """Where stage1's own files (rkt/status …) can be read, relative to the pod dir:
        the overlay upper dir when overlay is used (readable whether mounted or not)."""
        if self.uses_overlay():
            return f"overlay/{self.stage1_tree_id()}/upper"
        return "stage1/rootfs"

    # --- times and processes --------------------------------------------------------------
    def is_running(self) -> bool:
        return self.state == RUNNING

    def is_after_run(self) -> bool:
        return self.state in AFTER_RUN

    def is_finished(self) -> bool:
        return self.state in (EXITED, EXITED_GARBAGE, ABORTED_PREPARE, GARBAGE) or not self.where

    def creation_time(self) -> int | None:
        """ns since the epoch (mtime of ``pod-created``), None before prepared."""
        if not (self.state == PREPARED or self.is_running() or self.is_after_run()):
            return None
        t = self.mtime("pod-created")
        return t if t is not None else self.mtime("pod")

    def start_time(self) -> int | None:
        """ns since the epoch (mtime of ``pid``/``ppid``), None if never started."""
        if not (self.is_running() or self.is_after_run()):
            return None
        for name in ("pid", "ppid"):
            t = self.mtime(name)
            if t is not None:
                return t
        return None

    def gc_marked_time(self) -> int | None:
        """ns since the epoch (ctime of the pod dir in the garbage), None if not marked."""
        if self.state not in (GARBAGE, EXITED_GARBAGE, DELETING, EXITED_DELETING) or not self.where:
            return None
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ctime_ns

    def pid(self) -> int:
        """The pid in ``pid``, else the one in ``ppid`` (raises OSError if neither exists)."""
        try:
            return self.read_int("pid")
        except FileNotFoundError:
            return self.read_int("ppid")

    def container_pid1(self, poll: float = 0.1) -> int:
        """The PID to enter: ``pid``, else the only child of ``ppid``; waits while running."""
        while True:
            try:
                return self.read_int("pid")
            except FileNotFoundError:
                pass
            try:
                ppid = self.read_int("ppid")
            except FileNotFoundError:
                ppid = None
            if ppid is not None:
                child = child_pid(ppid)
                if child is not None:
                    return child
            time.sleep(poll)
            self.refresh()
            if not self.is_running():
                raise PodError(f"pod {self.uuid} is not running anymore")

    def app_exit_code(self, app: str) -> int | None:
        try:
            return self.read_int(f"{self.stage1_rootfs_rel()}/rkt/status/{app}")
        except (OSError, PodError):
            return None

    def exit_codes(self) -> dict[str, int]:
        out = {}
        for name in self.app_names():
            code = self.app_exit_code(name)
            if code is not None:
                out[name] = code
        return out

    def nets(self) -> list:
        """The networks the stage1 recorded in ``net-info.json`` (running and exited pods)."""
        if self._nets is None:
            self._nets = []
            if self.is_running() or self.state in (EXITED, EXITED_GARBAGE):
                try:  # absent for --net=host/none pods
                    data = fastjson.loads(self.read_text("net-info.json"))
                    self._nets = data if isinstance(data, list) else []
                except (OSError, ValueError):
                    pass
        return self._nets

    def is_supervisor_ready(self) -> bool:
        try:
            rel = self.stage1_rootfs_rel()
            return os.readlink(f"{rel}/rkt/supervisor-status", dir_fd=self.fd) == "ready"
        except (OSError, PodError):
            return False

    # --- locking --------------------------------------------------------------------------
    def _flock(self, op: int) -> bool:
        try:
            fcntl.flock(self.fd, op)
            return True
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise PodError(f"cannot lock pod {self.uuid}", e) from e

    def exclusive_lock(self, blocking: bool = True) -> bool:
        ok = self._flock(fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        self.locked = self.locked or ok
        return ok

    def shared_lock(self) -> None:
        self._flock(fcntl.LOCK_SH)

    def unlock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.locked = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Pod:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh(self) -> None:
        """Re-read which directory holds the pod and whether it is locked."""
        for d in DIRS:
            p = os.path.join(pods_dir(self.data_dir, d), self.uuid)
            if os.path.isdir(p):
                self.where = d
                break
        else:
            self.where = ""
            self.state = "gone"
            return
        unlocked, locked = _DIR_STATES[self.where]
        if unlocked == locked:
            self.state = unlocked
            return
        if self.locked:  # we hold it: the locked state is ours
            self.state = locked
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            self.state = locked
            return
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.state = unlocked

    # --- transitions ----------------------------------------------------------------------
    def _move(self, target: str, durable: bool = True) -> None:
        """Rename the pod into ``target``; ``durable``: fsync that directory too, so the
        new state survives a power loss."""
        src = self.path
        dst_dir = pods_dir(self.data_dir, target)
        try:
            os.rename(src, os.path.join(dst_dir, self.uuid))
        except OSError as e:
            raise PodError(f"cannot move pod {self.uuid} to {target}", e) from e
        if durable:
            _fsync_dir(dst_dir)
        self.where = target

    def to_preparing(self) -> None:
        if not self.created_by_me or self.where != "embryo":
            raise PodError("bug: only embryonic pods created here can transition to preparing")
        self.exclusive_lock()
        # Not fsynced: a power loss can only leave it in embryo/ instead, and both are
        # garbage to gc. The states a user is told about (prepared, run-prepared) are.
        self._move("prepare", durable=False)
        self.state = PREPARING

    def to_prepared(self) -> None:
        if not self.created_by_me or self.state != PREPARING:
            raise PodError("bug: only preparing pods may transition to prepared")
        self._move("prepared")
        self.unlock()
        self.state = PREPARED

    def to_run(self) -> None:
        """prepared -> run (or preparing -> run for the creator); leaves the pod EX-locked.

        A prepared pod has no lock owner: two run-prepared racing both get the lock in turn,
        the loser's rename fails because the directory moved, and it reports the error.
        """
        if not (self.state == PREPARED or (self.created_by_me and self.state == PREPARING)):
            raise PodError("bug: only prepared pods may transition to run")
        if self.state == PREPARED:
            # Another run-prepared holding the lock owns this pod for its whole life:
            # fail at once instead of waiting for that pod to exit.
            if not self.exclusive_lock(blocking=False):
                raise PodError(f"pod {self.uuid} is being run by another process")
            if not os.path.isdir(self.path):
                raise PodError(f"pod {self.uuid} is no longer prepared")
        else:
            self.exclusive_lock()
        # `rkt run`'s own pod (preparing -> run) dies with a power loss wherever its
        # directory ends up; a prepared pod must not come back as prepared once it ran.
        self._move("run", durable=self.state == PREPARED)
        self.state = RUNNING

    def to_exited_garbage(self) -> None:
        if self.state != EXITED:
            raise PodError("bug: only exited non-garbage pods may transition to exited-garbage")
        self._move("exited-garbage")
        self.state = EXITED_GARBAGE

    def to_garbage(self) -> None:
        if self.state not in (ABORTED_PREPARE, PREPARED):
            raise PodError("bug: only failed prepare or prepared pods may transition to garbage")
        self._move("garbage")
        self.state = GARBAGE

    def lock_fd_for_stage1(self) -> int:
        """The pod dir fd with CLOEXEC cleared, for ``RKT_LOCK_FD``."""
        os.set_inheritable(self.fd, True)
        return self.fd

    def sync(self) -> None:
        """syncfs(2) on the filesystem holding the pod (rkt's Pod.Sync)."""
        try:
            from rktfast.pod.mounts import syncfs

            syncfs(self.fd)
        except Exception:
            os.sync()


def child_pid(ppid: int) -> int | None:
    """The only child of ``ppid``, or None while it has none yet."""
    try:
        with open(f"/proc/{ppid}/task/{ppid}/children") as f:
            kids = f.read().split()
    except FileNotFoundError:
        return None
    except OSError:
        kids = None
    if kids is not None:
        if len(kids) > 1:
            raise PodError(f"too many children of pid {ppid}")
        return int(kids[0]) if kids else None
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(ppid):
            return int(name)
    return None


def new_pod(data_dir: str) -> Pod:
    """Create ``embryo/<uuid>``, lock it and move it to ``prepare/`` (state preparing)."""
    init_pods(data_dir)
    uuid = new_uuid()
    path = os.path.join(pods_dir(data_dir, "embryo"), uuid)
    try:
        os.mkdir(path, 0o750)
    except OSError as e:
        raise PodError("error creating new pod", e) from e
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    pod = Pod(data_dir, uuid, "embryo", fd, EMBRYO, created_by_me=True)
    pod.locked = False
    try:
        pod.to_preparing()
    except BaseException:
        pod.close()
        try:
            os.rmdir(path)
        except OSError:
            pass
        raise
    return pod


def open_pod(data_dir: str, uuid: str) -> Pod | None:
    """Open a pod by full UUID and find its state; None if it is in no directory."""
    for d in DIRS:
        path = os.path.join(pods_dir(data_dir, d), uuid)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            raise PodError(f'error opening pod "{uuid}"', e) from e
        unlocked, locked = _DIR_STATES[d]
        state = unlocked
        if unlocked != locked:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise PodError("unexpected lock error", e) from e
                state = locked
        return Pod(data_dir, uuid, d, fd, state)
    return None


def list_uuids(data_dir: str, dirs=MOST_DIRS) -> list[str]:
    """UUIDs found in ``dirs`` (a pod renamed during the listing is counted once)."""
    seen: set[str] = set()
    for d in dirs:
        try:
            with os.scandir(pods_dir(data_dir, d)) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        seen.add(e.name)
        except FileNotFoundError:
            continue
    return sorted(seen)


def walk_pods(data_dir: str, dirs=MOST_DIRS):
    """Yield open pods (sorted by UUID) whose current directory is one of ``dirs``.

    The caller must not keep a yielded pod past the next iteration: it is closed then.
    """
    init_pods(data_dir)
    for uuid in list_uuids(data_dir, dirs):
        try:
            pod = open_pod(data_dir, uuid)
        except PodError:
            continue
        if pod is None:
            continue
        try:
            if pod.where in dirs:
                yield pod
        finally:
            pod.close()


def resolve_uuid(data_dir: str, prefix: str) -> str:
    """A full UUID from a case-insensitive unique prefix, with rkt's errors."""
    if prefix == "":
        raise PodError("UUID cannot be empty")
    prefix = prefix.lower()
    matches = [u for u in list_uuids(data_dir, UUID_DIRS) if u.startswith(prefix)]
    if not matches:
        raise PodError(f'no matches found for "{prefix}"')
    if len(matches) > 1:
        raise PodError(f"ambiguous uuid, {len(matches)} matches")
    return matches[0]


def pod_from_uuid(data_dir: str, prefix: str) -> Pod:
    """Resolve a UUID prefix and open that pod (rkt's PodFromUUIDString)."""
    init_pods(data_dir)
    try:
        uuid = resolve_uuid(data_dir, prefix)
    except PodError as e:
        raise PodError("unable to resolve UUID", e) from e
    pod = open_pod(data_dir, uuid)
    if pod is None:
        raise PodError("unable to get pod", PodError(f'pod "{uuid}" not found'))
    return pod


def read_uuid_file(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def write_uuid_file(path: str, uuid: str) -> None:
    with open(path, "w") as f:
        f.write(uuid)
    os.chmod(path, 0o644)


def wait_finished(pod: Pod, timeout: float | None) -> None:
    """Block until the pod is in a terminal state (rkt's WaitFinished); None = forever."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not pod.is_finished():
        if deadline is None:
            fcntl.flock(pod.fd, fcntl.LOCK_SH)  # blocks while locked (preparing, running …)
            fcntl.flock(pod.fd, fcntl.LOCK_UN)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PodError("context deadline exceeded")
            try:
                fcntl.flock(pod.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(pod.fd, fcntl.LOCK_UN)
            except OSError:
                time.sleep(min(0.05, left))
        pod.refresh()
        if pod.state in (PREPARED, EMBRYO):
            time.sleep(0.2)


def wait_ready(pod: Pod, timeout: float | None) -> None:
    """Poll every 100 ms until the stage1 supervisor reports ``ready``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pod.refresh()
        if pod.is_supervisor_ready():
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise PodError("context deadline exceeded")
        time.sleep(0.1)
