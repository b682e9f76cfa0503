"""The one part of the build that pyproject.toml cannot say without an experimental table: the
optional C twin of the relay's block scan (see hubbub.server.fastpath.scan_block_py). Where
no compiler is present, the build goes on without it and the pure-Python twin runs."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("hubbub._speedups", sources=["src/hubbub/_speedups.c"], optional=True),
    ]
)
