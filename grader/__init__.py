"""grader: an autograder for numerical programming assignments."""

import os as _os

# The grader's own arrays are small (cases, reference answers, finite differences): a BLAS
# thread pool per process would only spin beside the sandboxes, which is where the processors
# are needed. Grading runs in parallel as processes (``--workers``), never as BLAS threads.
# Set before numpy is first imported; an explicit setting in the environment wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_name, "1")

__version__ = "0.1.0"
