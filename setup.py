"""Build the native hot paths (cffi and Cython) and the default stage1 images.

- ``rktfast._tarx``       cffi module: the streaming tar extractor (native/tarx/).
- ``rktfast._treedigest`` Cython module: the rendered-tree digest (native/treedigest.pyx).
- ``rktfast._syscalls``   Cython module: mount, umount2 and syncfs (native/syscalls.pyx).
- ``rktfast._sqlite``     Cython module: the libsqlite3 calls of the image index (native/sqlite.pyx).
- ``rktfast/stage1_images/stage1-*.aci``: built by stage1/build.py from native/stage1/.
"""

import os
import subprocess
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithStage1(build_py):
    """Assemble the stage1 ACIs into the package so the installed rkt finds them."""

    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "rktfast", "stage1_images")
        os.makedirs(out, exist_ok=True)
        subprocess.check_call([sys.executable, os.path.join(HERE, "stage1", "build.py"), "--out", out])


treedigest = Extension(
    "rktfast._treedigest",
    sources=["native/treedigest.pyx"],
    extra_compile_args=["-O2"],
)

syscalls = Extension("rktfast._syscalls", sources=["native/syscalls.pyx"],
                     extra_compile_args=["-O2"])

sqlite = Extension("rktfast._sqlite", sources=["native/sqlite.pyx"], libraries=["sqlite3"],
                   extra_compile_args=["-O2"])

setup(
    cffi_modules=["native/tarx_build.py:ffibuilder"],
    ext_modules=cythonize([treedigest, syscalls, sqlite], language_level=3, quiet=True),
    cmdclass={"build_py": BuildPyWithStage1},
)
