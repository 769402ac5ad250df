"""What a submission may import: the standard library, numpy and the rubric's [environment]
packages (with what they require), installed in the grader's Python; an undeclared package is
refused in the sandbox with a message naming what is allowed, and a check that fails for a
name a failed import left undefined says so."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import FULL, SAMPLES, part_scores, run, submitted

from grader import environment
from grader.sandbox import zygote_control
from grader.sandbox.interface import Cell, Imports, Limits, Program
from grader.sandbox.isolation import detect
from grader.sandbox.process import Sandbox

LIMITS = Limits(load_timeout=30.0, call_timeout=5.0)
SCIPY = environment.imports(("scipy",))
#: what a submission to an assignment without [environment] may import
BASE = environment.imports(())


def sandbox(source: str, functions: list[str], imports: Imports) -> Sandbox:
    return Sandbox(Program((Cell("student.py", source),), imports=imports), functions, LIMITS)


def value(box: Sandbox, function: str, *args: object) -> object:
    [outcome] = box.run(function, [f"a{i}" for i in range(len(args))], [list(args)])
    assert outcome.status == "ok", outcome
    return outcome.value["array"]


# --- what the grader computes --------------------------------------------------------------------


def test_a_declared_package_brings_its_requirements_and_nothing_else() -> None:
    assert SCIPY.packages == ("numpy", "scipy")
    assert SCIPY.modules == ("numpy", "scipy")  # scipy requires numpy only (its extras are not followed)
    assert BASE.modules == ("numpy",)
    site = Path(np.__file__).resolve().parent.parent
    assert {str(site / "scipy"), str(site / "numpy")} <= set(SCIPY.paths)
    assert str(site / "scipy") not in BASE.paths
    # pydantic's own requirements come with it: its imports of them must work
    assert {"pydantic", "pydantic_core", "typing_extensions", "annotated_types"} <= set(environment.imports(("pydantic",)).modules)


def test_missing_names_the_requirements_the_grader_python_does_not_satisfy() -> None:
    import scipy

    assert environment.missing(("scipy", f"scipy=={scipy.__version__}")) == []
    assert environment.missing(("scipy<1", "no-such-distribution-xyz")) == ["scipy<1", "no-such-distribution-xyz"]
    assert environment.status("scipy<1") == f"{scipy.__version__}, not <1"
    assert environment.install_command(["scipy<1"]) == [sys.executable, "-m", "pip", "install", "scipy<1"]


# --- in the sandbox, under strict isolation -------------------------------------------------------

IMPORTS = """\
def can(name):
    try:
        __import__(name)
    except ImportError as exc:
        print(exc)
        return 0.0
    return 1.0
"""


def test_a_declared_package_imports_in_the_sandbox_and_an_undeclared_one_is_refused() -> None:
    source = "from scipy.special import logsumexp\n" + IMPORTS + "def lse(x):\n    return logsumexp(x)\n"
    with sandbox(source, ["can", "lse"], SCIPY) as box:
        report = box.load()
        assert box.isolation == "namespaces+seccomp"
        assert report.warnings == ()
        assert float(value(box, "lse", np.array([0.0, np.log(3.0)]))) == pytest.approx(np.log(4.0))
    # the standard library (one the child has not imported yet), numpy's lazy submodules, scipy's others
    for name, allowed in [("fractions", 1.0), ("numpy.polynomial.hermite", 1.0), ("scipy.linalg", 1.0), ("sqlalchemy", 0.0), ("pydantic", 0.0)]:
        with sandbox(IMPORTS + f"def probe():\n    return can({name!r})\n", ["probe"], SCIPY) as box:
            box.load()
            assert float(value(box, "probe")) == allowed, name
            if not allowed:
                assert f"No module named {name!r} (this assignment allows the standard library, numpy and scipy)" in box.output


def test_without_a_declaration_scipy_is_refused_though_installed() -> None:
    with sandbox("from scipy.special import logsumexp\n", [], BASE) as box:
        report = box.load()
    assert report.warnings == (
        "student.py line 1 raised ModuleNotFoundError: No module named 'scipy' "
        "(this assignment allows the standard library and numpy) (line 1)",
    )


# --- [environment] preload: imported once, by the zygote -------------------------------------------

PRELOAD = environment.imports(("scipy",), ("scipy.special",))
#: reports, before the submission imports anything, whether the module was there already
LOADED_BEFORE = "import sys\nBEFORE = 'scipy.special' in sys.modules\n" + IMPORTS + "def before():\n    return float(BEFORE)\n"


@pytest.fixture
def new_zygote() -> Iterator[None]:
    """A zygote of this test's own: what it preloads is this test's doing."""
    zygote_control.discard()
    yield
    zygote_control.discard()


def test_a_preloaded_module_is_loaded_before_the_submission_runs_and_counted_outside_its_memory(new_zygote: None) -> None:
    limits = "import resource\ndef limit():\n    return float(resource.getrlimit(resource.RLIMIT_AS)[0])\n"
    with sandbox(LOADED_BEFORE + limits, ["before", "limit"], SCIPY) as box:
        box.load()
        assert float(value(box, "before")) == 0.0  # not preloaded: the submission's own import loads it
        plain = float(value(box, "limit"))
    assert plain == LIMITS.memory_mb << 20
    with sandbox(LOADED_BEFORE + limits + "from scipy.special import logsumexp\ndef lse(x):\n    return logsumexp(x)\n", ["before", "limit", "lse"], PRELOAD) as box:
        box.load()
        assert float(value(box, "before")) == 1.0
        assert float(value(box, "lse", np.array([0.0, np.log(3.0)]))) == pytest.approx(np.log(4.0))
        # the address space scipy.special took in the zygote is not taken from the submission's
        assert float(value(box, "limit")) > plain
    assert zygote_control.acquire().preloaded == {"scipy.special"}


def test_a_module_preloaded_for_one_assignment_is_refused_to_another_that_does_not_declare_it(new_zygote: None) -> None:
    with sandbox(LOADED_BEFORE, ["before"], PRELOAD) as box:
        box.load()
        assert float(value(box, "before")) == 1.0
    # the same zygote, now for an assignment that allows numpy only: scipy is forgotten
    probe = LOADED_BEFORE + "def uses():\n    return can('scipy.special')\n"
    with sandbox(probe, ["before", "uses"], BASE) as box:
        box.load()
        assert float(value(box, "before")) == 0.0
        assert float(value(box, "uses")) == 0.0
        assert "No module named 'scipy' (this assignment allows the standard library and numpy)" in box.output


def test_a_preload_that_fails_is_logged_and_the_submission_imports_for_itself(new_zygote: None, caplog: pytest.LogCaptureFixture) -> None:
    failing = environment.imports(("scipy",), ("scipy.no_such_module", "scipy.special"))
    with caplog.at_level("WARNING", logger="grader.sandbox.zygote_control"), sandbox(LOADED_BEFORE, ["before"], failing) as box:
        box.load()
        assert float(value(box, "before")) == 1.0  # the other one was preloaded all the same
    assert any("could not preload scipy.no_such_module: ModuleNotFoundError" in r.getMessage() for r in caplog.records)


def test_preload_must_name_modules_of_the_declared_packages(course: Path, db_url: str) -> None:
    declare(course, '["scipy"]', '["sqlalchemy.orm"]')
    result = run(course, "submit", str(SAMPLES / "correct_vectorized.py"), "-a", "backprop", "-s", "ada")
    assert result.exit_code == 2
    assert result.output == (
        "Error: assignment 'backprop' preloads sqlalchemy.orm, which is not a module of numpy or of the packages it declares "
        "([environment] packages).\n"
    )
    declare(course, '["scipy"]', '["not a module"]')
    bad = run(course, "submit", str(SAMPLES / "correct_vectorized.py"), "-a", "backprop", "-s", "ada")
    assert bad.exit_code == 2 and "not a module" in bad.output and "Traceback" not in bad.output


def test_what_is_preloaded_does_not_change_the_rubric_version(course: Path) -> None:
    from grader.course import Course

    before = Course(course).assignment("backprop").version
    declare(course, '["scipy"]', '["scipy.special", "scipy.linalg"]')
    assert Course(course).assignment("backprop").version == before
    declare(course, '["scipy", "pydantic"]', '["scipy.special"]')
    assert Course(course).assignment("backprop").version != before


def test_a_requirement_found_satisfied_is_not_looked_up_again_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[str] = []
    real = environment._satisfied
    monkeypatch.setattr(environment, "_satisfied", lambda requirement: looked.append(str(requirement)) or real(requirement))
    monkeypatch.setattr(environment, "_found", {})
    for _ in range(3):
        assert environment.missing(("scipy", "no-such-distribution-xyz")) == ["no-such-distribution-xyz"]
    # the missing one every time (installing it takes effect at once), the satisfied one once
    assert looked == ["scipy", "no-such-distribution-xyz", "no-such-distribution-xyz", "no-such-distribution-xyz"]
    environment._found["scipy"] -= environment.SATISFIED_SECONDS  # as if found that long ago
    environment.missing(("scipy",))
    assert looked[-1] == "scipy" and len(looked) == 5


@pytest.fixture
def without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GRADE_NO_BWRAP", "1")
    detect.cache_clear()
    zygote_control.discard()
    yield
    monkeypatch.delenv("GRADE_NO_BWRAP")
    detect.cache_clear()
    zygote_control.discard()


def test_on_the_landlock_path_a_child_may_read_the_declared_packages_only(without_bubblewrap: None) -> None:
    """Landlock lets a child read the Python installation and numpy; a declared package's files
    are added for that child alone."""
    site = Path(np.__file__).resolve().parent.parent
    source = f"def reads():\n    try:\n        open({str(site / 'scipy' / '__init__.py')!r}).close()\n    except OSError:\n        return 0.0\n    return 1.0\n"
    for imports, readable in [(SCIPY, 1.0), (BASE, 0.0), (SCIPY, 1.0)]:
        with sandbox(source, ["reads"], imports) as box:
            box.load()
            assert box.isolation == "landlock+seccomp+uid"
            assert float(value(box, "reads")) == readable


# --- grading: the backprop assignment declares scipy -------------------------------------------------


def test_a_correct_submission_using_scipy_scores_100(course: Path, db_url: str) -> None:
    out = submitted(course, "correct_scipy.py")
    assert out["status"] == "graded" and out["score"] == 100, out
    assert part_scores(out["checks"]) == FULL


def declare(course: Path, packages: str, preload: str = "[]") -> None:
    """Backprop's rubric with ``[environment] packages`` and ``preload`` set to these lists."""
    rubric = course / "rubrics" / "backprop.toml"
    text = rubric.read_text()
    assert len(re.findall(r"^packages = .*$", text, re.M)) == 1 and len(re.findall(r"^preload = .*$", text, re.M)) == 1
    text = re.sub(r"^packages = .*$", f"packages = {packages}", text, flags=re.M)
    rubric.write_text(re.sub(r"^preload = .*$", f"preload = {preload}", text, flags=re.M))


def test_without_the_declaration_the_checks_say_why_the_name_is_missing(course: Path, db_url: str, tmp_path: Path) -> None:
    declare(course, "[]")
    out = submitted(course, "correct_scipy.py")
    assert out["score"] == 0
    refused = "student.py line 10 raised ModuleNotFoundError: No module named 'scipy' (this assignment allows the standard library and numpy) (line 10)"
    allows = "This assignment allows importing the standard library and numpy only."
    loss = next(c for c in out["checks"] if c["id"] == "q1_loss_reference")
    assert loss["status"] == "error"
    assert loss["message"].startswith("loss raised NameError: name 'logsumexp' is not defined (line 24 in loss); while loading, ")
    assert f"while loading, {refused.replace('student.py', 'correct_scipy.py')}, which may be why that name is not defined (on case 'basic'" in loss["message"]
    assert loss["message"].endswith(allows)
    # every check says it, in --json and in the Gradescope export
    assert all("No module named 'scipy'" in c["message"] for c in out["checks"]), out["checks"]
    exported = run(course, "export", "-a", "backprop", "--format", "gradescope", "--student", "ada", "-o", str(tmp_path / "results.json"))
    assert exported.exit_code == 0, exported.output
    tests = json.loads((tmp_path / "results.json").read_text())["tests"]
    assert tests and all("No module named 'scipy'" in t["output"] and allows in t["output"] for t in tests), tests


def test_an_undeclared_installed_package_is_refused_with_the_clear_message(course: Path, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "uses_sqlalchemy.py"
    path.write_text("import sqlalchemy\n\n" + (SAMPLES / "correct_loops.py").read_text() + "\n\ndef loss(params, X, y, reg):\n    return sqlalchemy.func\n")
    out = submitted(course, path)
    loss = next(c for c in out["checks"] if c["id"] == "q1_loss_reference")
    assert loss["message"] == (
        "loss raised NameError: name 'sqlalchemy' is not defined (line "
        f"{path.read_text().splitlines().index('    return sqlalchemy.func') + 1} in loss); while loading, uses_sqlalchemy.py line 1 raised "
        "ModuleNotFoundError: No module named 'sqlalchemy' (this assignment allows the standard library, numpy and scipy) (line 1), "
        "which may be why that name is not defined (on case 'basic' (N=8, D=5, H=7, C=3, lambda=0.1)). "
        "This assignment allows importing the standard library, numpy and scipy only."
    )
    # the rest of the file, which needs nothing but numpy, still earns its points
    assert out["score"] == 100 - FULL["q1_loss"]


def test_a_missing_definition_after_a_failed_import_says_so(course: Path, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "cell.py"
    path.write_text("import numpy as np\nif True:\n    import pydantic\n    def loss(params, X, y, reg):\n        return 0.0\n")
    out = submitted(course, path)
    loss = next(c for c in out["checks"] if c["id"] == "q1_loss_reference")
    assert loss["message"] == (
        "loss is not defined in your submission; define loss(params, X, y, reg). While loading, cell.py line 2 raised "
        "ModuleNotFoundError: No module named 'pydantic' (this assignment allows the standard library, numpy and scipy) (line 3), "
        "which may be why. This assignment allows importing the standard library, numpy and scipy only."
    )


def test_grading_refuses_in_one_line_when_a_declared_package_is_missing(course: Path, db_url: str) -> None:
    declare(course, '["scipy", "no-such-distribution-xyz>=2"]')
    result = run(course, "submit", str(SAMPLES / "correct_scipy.py"), "-a", "backprop", "-s", "ada", "--json")
    assert result.exit_code == 2
    assert result.output == (
        "Error: assignment 'backprop' lets submissions import no-such-distribution-xyz>=2, which the grader's Python does not have; "
        f"install it with: {sys.executable} -m pip install 'no-such-distribution-xyz>=2' (or grade env backprop --install).\n"
    )
    assert not Path(db_url.removeprefix("sqlite:///")).exists()  # nothing recorded, not even a gradebook
    batch = run(course, "batch", str(SAMPLES), "-a", "backprop", "--json")
    assert batch.exit_code == 2 and "no-such-distribution-xyz>=2" in batch.output


def test_grade_env_lists_the_packages_and_the_command_for_the_missing(course: Path) -> None:
    import scipy

    ok = run(course, "env", "backprop")
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines()[:3] == [
        f"{'numpy':<20} yes  {np.__version__}",
        f"{'scipy':<20} yes  {scipy.__version__}",
        "submissions may import the standard library and the modules numpy, scipy",
    ]
    declare(course, '["scipy<1"]')
    missing = run(course, "env", "backprop")
    assert missing.exit_code == 1
    assert f"{'scipy<1':<20} no   {scipy.__version__}, not <1" in missing.output.splitlines()
    assert missing.output.splitlines()[-1] == f"missing: scipy<1; install with: {sys.executable} -m pip install 'scipy<1'"
