"""Pictures for reports, as PNG bytes: a wrong gradient beside the reference, and a class's
score histogram.

matplotlib is imported only here and only when a picture is drawn (it takes ~0.5 s to import).
Figures are made with the object API on an Agg canvas: nothing is registered with pyplot, so no
figure stays open and no global backend is switched.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
#: the color of inf and NaN; the diverging map (blue-white-red) has no green
NON_FINITE = "#1a9e3a"
#: arrays with at most this many elements get their values written in the cells
ANNOTATE_LIMIT = 40


def gradient_png(expected: Array, got: Array, name: str, worst: tuple[int, ...] | None = None) -> bytes:
    """The reference beside (yours - reference); when the shapes differ, the reference beside
    yours, each titled with its shape. A 1-D array is drawn as one row, more than 2-D as
    (first axis, the rest). Non-finite values are drawn in green, with a note."""
    from matplotlib.patches import Patch, Rectangle

    same = expected.shape == got.shape
    right = got - expected if same else got
    figure, axes = _figure(2, [_grid(expected), _grid(right)])
    if same:
        # Each on its own scale: the pattern of the difference matters more than its size.
        _colorbar(_heatmap(axes[0], expected, f"reference {name}  {_shape(expected)}"), axes[0])
        _colorbar(_heatmap(axes[1], right, f"yours - reference  {_shape(got)}"), axes[1])
        cell = _cell(worst, got.shape)
        if cell is not None:
            # black on white, so that it shows on the darkest red and the darkest blue alike
            for color, width in (("white", 4.0), ("black", 2.0)):
                axes[1].add_patch(Rectangle((cell[1] - 0.45, cell[0] - 0.45), 0.9, 0.9, fill=False, edgecolor=color, linewidth=width))
            axes[1].set_xlabel("outlined: the worst element", fontsize=9)
    else:
        # One scale for both, so that a transposed answer shows the same colors, moved.
        scale = _scale(expected, got)
        _heatmap(axes[0], expected, f"reference {name}  {_shape(expected)}", scale)
        _colorbar(_heatmap(axes[1], got, f"yours  {_shape(got)}", scale), list(axes))
        figure.suptitle(f"The shapes differ: {_shape(got)} instead of {_shape(expected)}", fontsize=11)
    if not (np.isfinite(expected).all() and np.isfinite(got).all()):
        figure.legend(handles=[Patch(color=NON_FINITE, label="inf or NaN")], loc="outside lower center", fontsize=9, frameon=False)
    return _png(figure)


def histogram_png(scores: Sequence[float], max_score: float, title: str = "") -> bytes:
    """How many students scored in each tenth of ``max_score``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 3.6), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    top = max_score if max_score > 0 else 1.0
    ax.hist(np.clip(np.asarray(scores, dtype=np.float64), 0, top), bins=np.linspace(0, top, 11).tolist(), color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, top)
    ax.set_xlabel(f"score (of {max_score:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _grid(array: Array) -> Array:
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(1, -1)
    return array.reshape(array.shape[0], -1)


def _cell(worst: tuple[int, ...] | None, shape: tuple[int, ...]) -> tuple[int, int] | None:
    if not worst or len(worst) != len(shape) or len(shape) > 2:
        return None
    return (0, worst[0]) if len(shape) == 1 else (worst[0], worst[1])


def _shape(array: Array) -> str:
    return str(tuple(array.shape))


def _scale(*arrays: Array) -> float:
    finite = np.concatenate([np.abs(a[np.isfinite(a)]).ravel() for a in arrays])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _figure(count: int, grids: list[Array]) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    rows = max(g.shape[0] for g in grids)
    columns = sum(g.shape[1] for g in grids)
    width = min(11.0, max(6.0, 0.45 * columns + 3.0))
    height = min(7.0, max(2.0, 0.45 * rows + 1.6))
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.subplots(1, count, width_ratios=[max(g.shape[1], 3) for g in grids])


def _heatmap(ax: Any, array: Array, title: str, scale: float | None = None) -> Any:
    """Signed values on a blue-white-red map centered at zero, NaN and inf in NON_FINITE."""
    from matplotlib import colormaps

    grid = _grid(array)
    scale = scale or _scale(grid)
    cmap = colormaps["RdBu_r"].with_extremes(bad=NON_FINITE)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-scale, vmax=scale, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    if grid.shape[0] <= 12:
        ax.set_yticks([] if array.ndim < 2 else range(grid.shape[0]))
    if grid.shape[1] <= 12:
        ax.set_xticks(range(grid.shape[1]))
    ax.tick_params(labelsize=8)
    if grid.size <= ANNOTATE_LIMIT:
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                color = "white" if abs(value) > 0.6 * scale else "black"
                ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=7, color=color)
    return image


def _colorbar(image: Any, axes: Any) -> None:
    """Beside tall pictures, below flat ones (a single row would get a bar ten times its height)."""
    from matplotlib.ticker import MaxNLocator

    flat = all(a.get_images()[0].get_array().shape[0] < 3 for a in (axes if isinstance(axes, list) else [axes]))
    bar = image.figure.colorbar(image, ax=axes, shrink=0.85, orientation="horizontal" if flat else "vertical", aspect=30 if flat else 20)
    bar.locator = MaxNLocator(5)  # a flat bar would otherwise crowd its labels into each other
    bar.update_ticks()
    bar.ax.tick_params(labelsize=8)


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
