from setuptools import setup

# cffi builds the extension against Python's limited API (_lib.abi3.so), so the
# wheel is tagged cp39-abi3: one wheel for CPython 3.9 and later.
setup(cffi_modules=["build_ffi.py:ffibuilder"], options={"bdist_wheel": {"py_limited_api": "cp39"}})
