"""The code that runs inside the sandbox, and only that code.

These modules never import ``grader``: they use the standard library, numpy and (when
installed) pyseccomp, and each other through relative imports. Inside the sandbox they are
not imported from this package at all: the grader side (``grader.sandbox.zygote_control``)
starts the zygote as ``python -I -c BOOTSTRAP``, where the bootstrap carries their sources,
registers an in-memory package named ``inside`` and runs them as ``inside.wire``,
``inside.child`` and ``inside.zygote`` before calling ``inside.zygote.main``. The sandbox's
view of the file system does not include the grader, and nothing in it is named ``grader``.

- ``wire``: the frame format of the pipes to a child, also imported by the grader side, so
  that both ends share one codec;
- ``child``: a forked child's program: load the submission, answer calls;
- ``zygote``: the fork server: a Python with numpy loaded that forks one child per
  submission, sets its limits and seccomp filter, and cleans up after it.

Importing any of them in the grader runs nothing.
"""
