"""cffi (API mode) builder for ``rktfast._tarx``: the native tar extractor and writer.

API mode compiles a real extension, so calls into it release the GIL (cffi does that for
every call into C) and the decompressing and hashing threads keep running meanwhile.
The cdef is tarx/tarx.h itself, minus the preprocessor lines cffi cannot parse.
"""

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "tarx")
SOURCES = ["ctx.c", "reader.c", "path.c", "extract.c", "fsutil.c", "writer.c", "fileq.c"]


def _cdef() -> str:
    with open(os.path.join(SRC, "tarx.h")) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source(
    "rktfast._tarx",
    '#include "tarx.h"',
    # setuptools wants sources relative to setup.py (the working directory of a build).
    sources=[os.path.relpath(os.path.join(SRC, s)) for s in SOURCES],
    include_dirs=[SRC],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wno-unused-parameter", "-pthread"],
    extra_link_args=["-pthread"],
    libraries=["crypto"],  # SHA-256 of file contents for the tree digest
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
