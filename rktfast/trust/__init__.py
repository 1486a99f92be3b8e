"""Signatures and trust (SPEC §7): the trusted-key store, signature checks and ``rkt trust``.

- ``keystore``   the ``trustedkeys/{root.d,prefix.d}`` layout and the keyring for an image name;
- ``pubkey``     reading public keys, fingerprints, fetching keys from files and URLs;
- ``review``     the fingerprint review dialogue and Go-style quoting;
- ``trust_keys`` adding keys to the local keystore (shared by ``rkt trust`` and fetch);
- ``verify``     checking detached signatures against the keyring for a name.
"""
