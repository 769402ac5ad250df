"""Running student code outside the grader: the sandbox, laid out along its trust boundary.

Grader side (trusted, never runs student code):

- ``interface``: what both sides agree on: ``Program``, ``Cell``, ``Limits``, and what comes
  back, ``LoadReport`` and ``Outcome`` with a ``RunStatus``; the rest of the grader imports
  these, never the machinery;
- ``process``: ``Sandbox``, one submission's child: load it, call its functions, turn every
  failure into an outcome;
- ``zygote_control``: starts the zygote (inside bubblewrap where available), asks it to fork
  and end children, restarts it when a submission killed it, logs its stderr;
- ``isolation``: which layers this machine gives, and the bubblewrap command line.

Inside (runs in the sandbox, never imports ``grader``): ``inside.wire`` (the frame codec,
also imported by ``process``), ``inside.child`` (a child's program) and ``inside.zygote`` (the
fork server); see ``grader.sandbox.inside``.
"""
