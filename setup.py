import os
from concurrent.futures import ThreadPoolExecutor

from setuptools import setup
from setuptools.command.build_ext import build_ext


class ParallelBuildExt(build_ext):
    """setuptools compiles an extension's C files one after another (its own -j
    only builds several extensions at once, and there is one), which takes minutes
    at -O3; this compiles them in a pool of threads, one compiler process per CPU,
    or N with `build_ext -j N` or MAX_JOBS=N (as PyTorch's extension builds read it).
    The linking is unchanged. cffi's hook subclasses this in turn."""

    def build_extension(self, ext):
        jobs = None if self.parallel is True else self.parallel
        jobs = jobs or os.environ.get("MAX_JOBS") or os.cpu_count() or 1
        if not str(jobs).isdigit():
            raise ValueError(f"MAX_JOBS must be a whole number of compilers, not {jobs!r}")
        jobs = int(jobs)
        compiler, serial = self.compiler, self.compiler.compile
        if jobs <= 1 or compiler.compiler_type == "msvc":  # MSVC: kept serial, untried
            return super().build_extension(ext)

        def compile_each(sources, **kwargs):
            # map keeps the sources' order, raises the first failure (the compiler
            # has printed its message) and cancels the files not yet started.
            with ThreadPoolExecutor(jobs) as pool:
                done = pool.map(lambda source: serial([source], **kwargs), sources)
                return [obj for objects in done for obj in objects]

        compiler.compile = compile_each
        try:
            return super().build_extension(ext)
        finally:
            del compiler.compile  # the class's method again


# cffi builds the extension against Python's limited API (_lib.abi3.so), so the
# wheel is tagged cp39-abi3: one wheel for CPython 3.9 and later.
setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": ParallelBuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
