"""Build hook for the one compiled module; every other setting lives in setup.cfg.

``medocr.decode._kernels`` holds the decoders' inner loops in C (bit-identical to their
Python references). It is optional: without a C compiler the build goes on and medocr
runs the Python code.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "medocr.decode._kernels",
            sources=["medocr/decode/_kernels.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
