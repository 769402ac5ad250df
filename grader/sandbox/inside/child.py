"""The program of a sandboxed child: run the submission's top level, then answer calls.

Runs inside the sandbox only (see ``grader.sandbox.inside``): the zygote forks one child per
submission, which calls ``serve`` with its two pipes.

Protocol, over two pipes (requests in, replies out), in frames of ``wire``:
  1. the grader sends the program: {"module", "cells": [{"filename", "size"}], "source",
     "functions", "strict_syntax", "by_statement", "skip": [indexes of pieces not to run],
     "imports": {"modules", "packages"}: the top-level modules it may import besides the standard
     library, and the distributions they come from (for the message of a refused import)}, where
     "source" is one raw buffer of bytes (a ``|u1`` array) holding every cell's text in UTF-8,
     one after the other, each ``size`` bytes long (see ``read_program``)
  2. the child runs the cells, sending {"running": index, "label"} before each piece of
     top-level code, and answers {"warnings", "functions": {name: state}, "error"}
  3. then, per request {"function", "names", "calls": [[arg, ...], ...], "opaque", "keep",
     "updates"}, one reply per call:
     {"status", "value", "error", "seconds", "mutated", "inner_calls", "updated"}

A value the grader must not see, a forward pass's cache, stays here: with "opaque": i, element i
of a returned tuple is exported as {"kept": true} and stored under the call's name in "keep"
(when not null); an argument {"__handle__": name} is that stored value. "updates" names
arguments the function is meant to update in place: their values after the call come back in
"updated".
"""

import __future__

import ast
import functools
import importlib.machinery
import os
import signal
import sys
import time
import traceback
import types

import numpy as np

from .wire import MAX_HEADER, WIRE_DTYPES, Closed, Reader, read_frame, write_frame

OUTPUT_CAP = 64 * 1024
MAX_ELEMENTS = 10_000_000
#: bytes of program text (every cell's, in UTF-8) a child reads. The text crosses as a raw buffer
#: beside the frame's header, which holds only the cells' names and sizes, so a program is not
#: bounded by MAX_HEADER. The grader refuses a larger submission when it reads it
#: (``grader.loading``): every program it accepts crosses.
MAX_PROGRAM_BYTES = 64 << 20


class CappedOutput:
    """stdout/stderr for student code: keeps the first OUTPUT_CAP characters, drops the rest.

    Printing never fails, however much a submission prints."""

    def __init__(self, fd):
        self.fd = fd
        self.kept = 0

    def write(self, text):
        text = str(text)
        room = OUTPUT_CAP - self.kept
        if room > 0 and text:
            chunk = text[:room].encode("utf-8", "replace")
            try:
                os.write(self.fd, chunk)
            except OSError:
                pass
            self.kept += len(text[:room])
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True

    @property
    def encoding(self):
        return "utf-8"


class NoGraderImports:
    """A meta-path finder that refuses the grader's own packages."""

    BLOCKED = ("grader", "reference")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"module {name!r} is not available to submissions")
        return None


class AllowedImports:
    """A meta-path finder that refuses every top-level module but the standard library's and
    the assignment's (``modules``: numpy, the rubric's declared packages and what they require),
    whatever else the Python installation holds. A rule of the assignment, not a wall: what the
    submission can read at all is the sandbox's file rules' to decide.

    A module of the standard library's directory that ``sys.stdlib_module_names`` does not name
    (``_sysconfigdata_*``, which ``sysconfig`` imports by a platform's name) is allowed too."""

    def __init__(self, modules, packages, own):
        self.allowed = frozenset(modules) | sys.stdlib_module_names | frozenset(sys.builtin_module_names) | {own}
        self.stdlib = os.path.dirname(os.__file__) + os.sep
        names = ["the standard library", *packages]
        listing = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        self.allows = f"this assignment allows {listing}"

    def find_spec(self, name, path=None, target=None):
        if path is not None or name in self.allowed:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name)
        origin = getattr(spec, "origin", None) or ""
        inside = origin[len(self.stdlib) :].split(os.sep) if origin.startswith(self.stdlib) else None
        if inside is not None and "site-packages" not in inside and "dist-packages" not in inside:
            return spec
        raise ModuleNotFoundError(f"No module named {name!r} ({self.allows})", name=name)


def where(exc, filenames):
    """'line 12 in gradients' for the innermost frame of the submission's own code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in filenames]
    if isinstance(exc, SyntaxError) and exc.filename in filenames:
        return f"line {exc.lineno}"
    if not frames:
        return ""
    last = frames[-1]
    inside = "" if last.name == "<module>" else f" in {last.name}"
    return f"line {last.lineno}{inside}"


def describe(exc, filenames):
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    place = where(exc, filenames)
    return (f"{text} ({place})" if place else text)[:500]


MAX_TUPLE = 16


def export(value, depth=0):
    """The student's return value as plain numbers, or a description of what it was."""
    if depth > 3:
        return {"unsupported": "a value nested too deeply"}
    if isinstance(value, tuple):
        if len(value) > MAX_TUPLE:
            return {"unsupported": f"a tuple of {len(value)} values"}
        return {"tuple": [export(item, depth + 1) for item in value]}
    if isinstance(value, dict):
        items = {}
        for key, item in value.items():
            if type(key) is not str:
                return {"unsupported": f"a dict with a key of type {type(key).__name__}"}
            items[key] = export(item, depth + 1)
        return {"dict": items}
    if isinstance(value, (np.ndarray, bool, int, float, np.generic)):
        # The real shape: a subclass may override .shape, or np.shape through __array_function__.
        shape = np.ndarray.shape.__get__(value) if isinstance(value, np.ndarray) else ()
        count = 1
        for n in shape:
            count *= int(n)
        if count > MAX_ELEMENTS:
            return {"unsupported": f"an array of shape {tuple(shape)}, too large to be an answer"}
        array = np.array(value, copy=True, subok=False)
        if array.dtype.kind not in "fiub":
            return {"unsupported": f"an array of dtype {array.dtype}"}
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        if array.dtype.str not in WIRE_DTYPES:
            return {"unsupported": f"an array of dtype {array.dtype}"}
        return {"array": array}
    return {"unsupported": "None" if value is None else f"a {type(value).__name__}"}


def snapshot(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    return value


def changed(before, after, name):
    """Names of the input arrays a call modified in place."""
    if isinstance(before, dict):
        out = []
        for key, item in before.items():
            out += changed(item, after.get(key) if isinstance(after, dict) else None, f"{name}[{key!r}]")
        return out
    if isinstance(before, np.ndarray):
        same = (
            isinstance(after, np.ndarray)
            and after.shape == before.shape
            and np.array_equal(after, before, equal_nan=True)
        )
        return [] if same else [name]
    return []


class Counter:
    """Wraps a contract function so calls between the student's own functions are counted."""

    def __init__(self, function, tally, name):
        self.function = function
        self.tally = tally
        self.name = name

    def __call__(self, *args, **kwargs):
        self.tally[self.name] += 1
        return self.function(*args, **kwargs)


MAX_COUNTED = 100


def count_helpers(module, filenames, contract, tally):
    """Count calls of the submission's own module-level functions too (a finite-difference
    gradient may difference a private objective that ``loss`` merely wraps)."""
    for name, value in list(module.__dict__.items())[: MAX_COUNTED * 4]:
        if len(tally) >= MAX_COUNTED:
            break
        if name in contract or type(value) is not types.FunctionType or value.__code__.co_filename not in filenames:
            continue
        tally[name] = 0

        def counted(*args, __function=value, __name=name, **kwargs):
            tally[__name] += 1
            return __function(*args, **kwargs)

        module.__dict__[name] = functools.wraps(value)(counted)


def units(program, warnings):
    """(label, filename, code) of each piece of top-level code, in order: a whole notebook
    cell, or one statement of a .py file, so that a statement that raises or hangs costs only
    itself and later definitions still happen."""
    flags = 0
    for cell in program["cells"]:
        filename = cell["filename"]
        try:
            tree = compile(cell["source"], filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            message = describe(exc, {filename})
            if program["strict_syntax"]:
                raise LoadError(f"{filename} does not compile: {message}") from None
            warnings.append(f"{filename} was skipped: {message}")
            continue
        if not isinstance(tree, ast.Module):  # what "exec" mode always gives; narrows the type
            continue
        if not program["by_statement"]:
            yield filename, filename, compile(tree, filename, "exec", flags, dont_inherit=True)
            continue
        for statement in tree.body:
            if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
                for alias in statement.names:  # later statements compile under the same features
                    flags |= getattr(getattr(__future__, alias.name, None), "compiler_flag", 0)
            piece = ast.Module(body=[statement], type_ignores=[])
            yield f"{filename} line {statement.lineno}", filename, compile(piece, filename, "exec", flags, dont_inherit=True)


class LoadError(Exception):
    pass


def load(program, module, replies):
    """Run the submission's top level, telling the grader which piece is running."""
    filenames = {cell["filename"] for cell in program["cells"]}
    skip = set(program["skip"])
    warnings: list = []
    try:
        for index, (label, _, code) in enumerate(units(program, warnings)):
            if index in skip:
                continue
            write_frame(replies, {"running": index, "label": label})
            try:
                exec(code, module.__dict__)
            except BaseException as exc:  # noqa: BLE001 - a piece that fails must not stop the others
                warnings.append(f"{label} raised {describe(exc, filenames)}")
    except LoadError as exc:
        return filenames, warnings, str(exc)
    return filenames, warnings, None


class Unkept(Exception):
    pass


def resolve(args, kept):
    """The arguments with each handle {"__handle__": name} replaced by the value kept under it."""
    out = []
    for arg in args:
        if type(arg) is dict and set(arg) == {"__handle__"}:
            if arg["__handle__"] not in kept:
                raise Unkept(arg["__handle__"])
            arg = kept[arg["__handle__"]]
        out.append(arg)
    return out


def call(function, tally, names, args, filenames, kept=None, opaque=None, keep=None, updates=()):
    reply: dict = {"status": "ok", "value": None, "error": "", "mutated": [], "updated": {}, "inner_calls": {}}
    try:
        args = resolve(args, kept if kept is not None else {})
    except Unkept:
        reply.update(status="error", seconds=0.0, error="its cache was not kept: the forward pass that made it failed or its process was restarted")
        return reply
    before = [snapshot(a) for a in args]
    for name in tally:
        tally[name] = 0
    start = time.perf_counter()
    try:
        value = function(*args)
        reply["seconds"] = time.perf_counter() - start
        if opaque is not None and isinstance(value, tuple) and opaque < len(value) <= MAX_TUPLE:
            items = list(value)
            if keep is not None:
                kept[keep] = items[opaque]
            items[opaque] = None
            exported = export(tuple(items))
            exported["tuple"][opaque] = {"kept": True}
            reply["value"] = exported
        else:
            reply["value"] = export(value)
    except MemoryError:
        reply.update(status="memory", error="MemoryError: ran out of memory")
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are the student's failure
        reply.update(status="error", error=describe(exc, filenames))
    reply.setdefault("seconds", time.perf_counter() - start)
    reply["inner_calls"] = {name: n for name, n in tally.items() if n}
    for name, old, new in zip(names, before, args, strict=False):  # a call may have fewer arguments than names
        reply["mutated"] += changed(old, new, name)
        if name in updates and reply["status"] == "ok":
            reply["updated"][name] = export(new)
    return reply


def read_program(requests):
    """The program the grader sends, with each cell's source decoded from the one buffer that
    holds them all (lone surrogates, which a notebook's JSON may hold, pass through)."""
    program = read_frame(requests, max_bytes=MAX_PROGRAM_BYTES)
    text = memoryview(program.pop("source"))
    cells, start = [], 0
    for cell in program["cells"]:
        stop = start + cell["size"]
        cells.append({"filename": cell["filename"], "source": str(text[start:stop], "utf-8", "surrogatepass")})
        start = stop
    program["cells"] = cells
    return program


def serve(requests, replies, preloaded=()):
    """Load the submission sent on ``requests`` and answer calls until the grader hangs up.
    ``preloaded``: modules the zygote imported for some assignment (``zygote.preload``); those
    this submission's assignment does not allow are dropped from ``sys.modules`` first, so that
    importing them is refused as if they had never been loaded."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for name, fd in (("stdout", 1), ("stderr", 2)):
        # __stdout__ too: a submission "restoring" the original stream still gets the capped one
        stream = CappedOutput(fd)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    sys.meta_path.insert(0, NoGraderImports())
    frames = Reader(requests)
    program = read_program(frames)
    imports = program["imports"]
    allowed = AllowedImports(imports["modules"], imports["packages"], program["module"])
    for name in preloaded:
        if name.split(".")[0] not in allowed.allowed:
            sys.modules.pop(name, None)
    sys.meta_path.insert(1, allowed)
    module = types.ModuleType(program["module"])
    module.__file__ = program["cells"][0]["filename"] if program["cells"] else program["module"]
    sys.modules[program["module"]] = module
    filenames, warnings, error = load(program, module, replies)
    states, counters, tally = {}, {}, {}
    kept: dict = {}
    for name in program["functions"]:
        function = module.__dict__.get(name)
        states[name] = "missing" if function is None else "ok" if callable(function) else "not callable"
        if states[name] == "ok":
            tally[name] = 0
            counters[name] = Counter(function, tally, name)
            module.__dict__[name] = counters[name]
    count_helpers(module, filenames, counters, tally)
    write_frame(replies, {"warnings": warnings, "functions": states, "error": error})
    while True:
        try:
            request = read_frame(frames, max_items=MAX_HEADER)  # the grader's, trusted: its calls may hold many values
        except Closed:
            return
        function = counters[request["function"]].function
        keep = request.get("keep") or [None] * len(request["calls"])
        for args, name in zip(request["calls"], keep, strict=True):
            reply = call(function, tally, request["names"], args, filenames, kept, request.get("opaque"), name, request.get("updates") or ())
            write_frame(replies, reply)

