"""The checks a rubric runs on a submission's answers.

    context.py    what the checks of one grading share: inputs, reference answers, the student's
    compare.py    a child's answer as a trusted array, relative errors
    verdicts.py   building results (passed, failed, unanswered)
    reference.py  the ``reference`` kind: answers against the reference implementation
    gradcheck.py  the ``gradcheck`` kind: gradients against finite differences
    diagnosis.py  naming the mistake behind a result, and its partial credit
    reproduce.py  the inputs of a failed small case, as code that reproduces it
    registry.py   the kinds by name, and ``run_check``

This package's ``__init__`` imports nothing, so any of its modules imports on its own.
"""
