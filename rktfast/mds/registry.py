"""What the metadata service knows: registered pods, their apps, and the HMAC key.

Everything lives in memory, as in rkt: the service forgets pods when it restarts, and
stage0 registers each pod again with ``--mds-register``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import uuid as uuidlib
from dataclasses import dataclass, field


@dataclass
class RegisteredPod:
    uuid: str
    token: str
    manifest: bytes
    apps: dict[str, bytes] = field(default_factory=dict)  # app name -> image manifest

    def pod_manifest(self) -> dict:
        return json.loads(self.manifest)

    def pod_app(self, name: str) -> dict | None:
        for app in self.pod_manifest().get("apps") or []:
            if app.get("name") == name:
                return app
        return None


class Registry:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_uuid: dict[str, RegisteredPod] = {}
        self._by_token: dict[str, RegisteredPod] = {}
        # A new key each start: signatures do not outlive the service, as in rkt.
        self.hmac_key = os.urandom(64)

    def register_pod(self, pod_uuid: str, token: str, manifest: bytes) -> None:
        uuidlib.UUID(pod_uuid)  # ValueError for garbage
        json.loads(manifest)
        with self._lock:
            old = self._by_uuid.pop(pod_uuid, None)
            if old:
                self._by_token.pop(old.token, None)
            pod = RegisteredPod(pod_uuid, token, manifest)
            self._by_uuid[pod_uuid] = pod
            self._by_token[token] = pod

    def register_app(self, pod_uuid: str, app: str, image_manifest: bytes) -> bool:
        json.loads(image_manifest)
        with self._lock:
            pod = self._by_uuid.get(pod_uuid)
            if pod is None:
                return False
            pod.apps[app] = image_manifest
            return True

    def unregister_pod(self, pod_uuid: str) -> bool:
        with self._lock:
            pod = self._by_uuid.pop(pod_uuid, None)
            if pod:
                self._by_token.pop(pod.token, None)
            return pod is not None

    def by_token(self, token: str) -> RegisteredPod | None:
        with self._lock:
            return self._by_token.get(token)

    def sign(self, pod: RegisteredPod, content: bytes) -> str:
        mac = hmac.new(self.hmac_key, uuidlib.UUID(pod.uuid).bytes + content, hashlib.sha512)
        return base64.b64encode(mac.digest()).decode()

    def verify(self, pod_uuid: str, content: bytes, signature: str) -> bool:
        try:
            raw_uuid = uuidlib.UUID(pod_uuid).bytes
            given = base64.b64decode(signature, validate=True)
        except ValueError:
            return False
        mac = hmac.new(self.hmac_key, raw_uuid + content, hashlib.sha512).digest()
        return hmac.compare_digest(mac, given)
