from setuptools import setup

setup(cffi_modules=["darknet_softmax/_build.py:ffibuilder"])
