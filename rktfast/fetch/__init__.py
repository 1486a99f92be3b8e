"""Image sources and the one-pass ingest (decompress, hash, store, render).

Submodules are imported where used so that commands which never fetch pay nothing:
``rktfast.fetch.ingest`` (ingest_aci), ``rktfast.fetch.extract`` (render_blobs,
extract_rootfs, write_tree_tar), ``rktfast.fetch.decompress``.
"""
