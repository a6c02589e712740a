"""What a Jupyter notebook shows for graphdiff's objects: generated source highlighted under
its signature, an MLP's layers and training state, a History's loss curves (hand-made SVG,
no matplotlib), and the progress of fit.  Reads objects; computes nothing they do not hold.
"""

from __future__ import annotations

import math
import sys
from html import escape
from typing import Any

__all__ = ["compiled_html", "curves_svg", "history_html", "in_notebook", "mlp_html",
           "progress_html"]

_TABLE = 'style="border-collapse:collapse; text-align:left"'
_CURVE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def _highlighted(source: str) -> str:
    """Python source as HTML, coloured by Pygments when it is there (it comes with Jupyter)."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return f"<pre>{escape(source)}</pre>"
    return highlight(source, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))


def compiled_html(f: Any) -> str:
    """A CompiledFunction: its call signature, then its generated source, highlighted."""
    lines = f.source.count("\n")
    head = (f"<p><b><code>{escape(f.name)}({escape(', '.join(f.inputs))})</code></b> "
            f"&mdash; generated NumPy, {lines} lines</p>")
    return f"<div>{head}\n{_highlighted(f.source)}</div>"


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th style=\"text-align:left; padding-right:1em\">{escape(k)}</th>"
                   f"<td style=\"text-align:left\">{escape(v)}</td></tr>" for k, v in pairs)


def _training_state(model: Any) -> str:
    h = model.history
    if h is None:
        return "not trained"
    parts = [f"{h.epochs} epochs", f"final loss {h.loss[-1]:.4g}" if h.loss else ""]
    if h.val_loss:
        parts.append(f"validation loss {h.val_loss[-1]:.4g}")
    if h.best_epoch is not None:
        parts.append(f"best epoch {h.best_epoch + 1}")
    parts += [flag.replace("_", " ") for flag in ("stopped_early", "diverged")
              if getattr(h, flag)]
    if model.keep_prob < 1:
        parts.append(f"dropout keep_prob {model.keep_prob:g}")
    return ", ".join(p for p in parts if p)


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def mlp_html(model: Any) -> str:
    """An MLP: one row per layer (width and activation), the parameter count, the loss and
    how far training has come, and the loss curves once it has been trained."""
    sizes = model.layer_sizes
    layers = [("input", _units(sizes[0]))]
    for l, width in enumerate(sizes[1:-1], start=1):
        shape = f"W{l} {sizes[l - 1]}×{width}, b{l} {width}"
        layers.append((f"hidden {l}", f"{_units(width)}, {model.activation}  ({shape})"))
    last = len(sizes) - 1
    layers.append(("output", f"{_units(sizes[-1])}, {model.head}  "
                             f"(W{last} {sizes[-2]}×{sizes[-1]}, b{last} {sizes[-1]})"))
    rows = layers + [("parameters", f"{model.n_parameters:,}"), ("loss", model.loss),
                     ("training", _training_state(model))]
    curves = "" if model.history is None or not model.history.loss else \
        f"<div>{curves_svg(model.history)}</div>"
    return (f'<div style="display:flex; gap:1.5em; align-items:flex-start; flex-wrap:wrap">'
            f"<div><p><b>{escape(repr(model))}</b></p><table {_TABLE}>{_rows(rows)}</table>"
            f"</div>{curves}</div>")


def history_html(h: Any) -> str:
    """A History: its loss curves and its last numbers."""
    if not h.loss:
        return f"<p>{escape(repr(h))}</p>"
    return f"<div><p>{escape(repr(h))}</p>{curves_svg(h)}</div>"


def _log_or_linear(values: list[float]) -> tuple[Any, bool]:
    """The y transform: log10 when every value is positive and they span a decade."""
    finite = [v for v in values if math.isfinite(v)]
    log = bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 10
    return (math.log10 if log else float), log


def curves_svg(h: Any, width: int = 420, height: int = 240) -> str:
    """Training (and validation, accuracy) loss per epoch as an SVG line chart, the best
    epoch marked; a log scale when the loss falls by more than a decade."""
    series = {name: getattr(h, name) for name in ("loss", "val_loss") if getattr(h, name)}
    transform, log = _log_or_linear([v for s in series.values() for v in s])
    left, right, top, bottom = 56, 12, 14, 34
    ys = [transform(v) for s in series.values() for v in s if math.isfinite(v)]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(s) for s in series.values())

    def px(epoch: int, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * (epoch / max(n - 1, 1))
        y = top + (height - top - bottom) * (1 - (transform(value) - lo) / (hi - lo))
        return x, y

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="DejaVu Sans, Helvetica, sans-serif" font-size="11">',
           f'<rect x="{left}" y="{top}" width="{width - left - right}" '
           f'height="{height - top - bottom}" fill="none" stroke="#999999"/>']
    for frac in (0.0, 0.5, 1.0):
        value = lo + frac * (hi - lo)
        y = top + (height - top - bottom) * (1 - frac)
        label = f"{10 ** value:.3g}" if log else f"{value:.3g}"
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(f'<text x="{left}" y="{height - 18}" text-anchor="middle">1</text>')
    out.append(f'<text x="{width - right}" y="{height - 18}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 4}" '
               f'text-anchor="middle">epoch{" (loss on a log scale)" if log else ""}</text>')
    if h.best_epoch is not None:
        x = px(h.best_epoch, 1.0)[0]
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" '
                   f'stroke="#888888" stroke-dasharray="3,3"/>')
    for k, (name, values) in enumerate(series.items()):
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in
                          (px(e, v) for e, v in enumerate(values) if math.isfinite(v)))
        color = _CURVE_COLORS[k % len(_CURVE_COLORS)]
        out.append(f'<polyline points="{points}" fill="none" stroke="{color}" '
                   f'stroke-width="1.5"/>')
        label = {"loss": "training", "val_loss": "validation"}[name]
        out.append(f'<text x="{width - right - 4}" y="{top + 14 + 14 * k}" '
                   f'text-anchor="end" fill="{color}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where stderr is no terminal but a page can update)."""
    shell = sys.modules.get("IPython")
    ipython = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def progress_html(epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> str:
    """One line of fit's progress for a notebook: a bar and the epoch's numbers."""
    values = "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
    return (f'<div><progress value="{epoch + 1}" max="{epochs}" style="width:14em">'
            f"</progress> <code>epoch {epoch + 1}/{epochs}  {escape(values)}  "
            f"({seconds:.1f} s)</code></div>")
