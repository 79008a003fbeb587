# GPAW build configuration for `pip install "screener[dft]"` (read by GPAW's setup.py through
# GPAW_CONFIG; not a module of screener). Needs Debian's libxc-dev libopenblas-dev libfftw3-dev.
# GPAW's C code compiles as C++ with gcc; without 'blas' in libraries the build silently drops BLAS.
compiler = 'g++'
mpi = False
fftw = True
libraries += ['blas', 'fftw3']  # noqa: F821 - `libraries` is defined by GPAW's setup.py
