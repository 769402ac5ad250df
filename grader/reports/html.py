"""HTML: one self-contained file per report (CSS inline, pictures as data: URIs), readable in
any browser without a network.

Every piece of text passes through ``html.escape``: messages carry student-controlled text such
as exception messages, and student ids are arbitrary.
"""

from __future__ import annotations

from html import escape

from grader.reports.model import Arrays, CheckView, PartView, Report

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2125; max-width: 60rem;
       margin: 2rem auto; padding: 0 1.2rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .6rem;
     border-bottom: 1px solid #d8dde2; padding-bottom: .3rem; display: flex; justify-content: space-between; }
.meta { color: #5b636b; margin: 0 0 1rem; } .total { font-size: 1.3rem; font-weight: 600; }
table { border-collapse: collapse; margin: .8rem 0; } td, th { padding: .25rem .8rem; text-align: left; }
th { border-bottom: 2px solid #d8dde2; } tr + tr td { border-top: 1px solid #eceff2; } .num { text-align: right;
     font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { width: 8rem; height: .55rem; background: #eceff2; border-radius: .3rem; overflow: hidden; }
.bar span { display: block; height: 100%; background: #3a7d44; } .bar.partial span { background: #d08c2c; }
.check { border-left: 4px solid #3a7d44; padding: .4rem .9rem; margin: .7rem 0; background: #f7faf7; }
.check.failed, .check.error, .check.timeout, .check.memory, .check.crashed { border-color: #b3261e; background: #fdf6f5; }
.check header { display: flex; justify-content: space-between; font-weight: 600; }
.badge { font-size: .75rem; padding: .05rem .45rem; border-radius: .6rem; background: #3a7d44; color: white;
         margin-right: .4rem; text-transform: uppercase; letter-spacing: .03em; }
.failed .badge, .error .badge, .timeout .badge, .memory .badge, .crashed .badge { background: #b3261e; }
code { font-size: .85em; background: #eceff2; padding: 0 .25rem; border-radius: .2rem; }
.diagnosis { background: #fff6dc; border: 1px solid #ecd9a0; border-radius: .3rem; padding: .4rem .7rem; margin: .5rem 0; }
.facts { color: #4a5259; font-size: .9rem; margin: .3rem 0; padding-left: 1.2rem; }
figure { margin: .6rem 0; } figure img { max-width: 100%; border: 1px solid #eceff2; }
figcaption { color: #5b636b; font-size: .85rem; } .note { background: #fdf6f5; border: 1px solid #e8b4ae;
     padding: .5rem .8rem; border-radius: .3rem; } .hidden-note { color: #5b636b; font-style: italic; }
"""


def page(title: str, body: str) -> str:
    """A complete HTML document; ``title`` is plain text, ``body`` is already HTML."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def html(report: Report) -> str:
    header = report.header
    when = f", submitted {header.submitted_at:%Y-%m-%d %H:%M} UTC" if header.submitted_at else ""
    body = [
        f"<h1>{escape(report.title)}</h1>",
        f"<p class=\"meta\">{escape(header.student)} · submission {header.submission_id}"
        + (f" (<code>{escape(header.filename)}</code>)" if header.filename else "")
        + f"{when} · status {escape(header.status)}</p>",
        f"<p class=\"total\">Score: {header.score:g} / {header.max_score:g}</p>",
    ]
    if header.status != "graded":
        body.append(f"<p class=\"note\">{escape(header.message)}</p>")
    if report.parts:
        body.append(_part_table(report))
    for part in report.parts:
        body.append(_part(part))
    if report.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
        body.append(f"<h2>Warnings while loading</h2><ul>{items}</ul>")
    return page(f"{header.assignment}: {header.student}", "\n".join(body))


def bar(score: float, top: float) -> str:
    share = 0.0 if top <= 0 else max(0.0, min(1.0, score / top))
    return f"<div class=\"bar{' partial' if share < 1 else ''}\"><span style=\"width:{share * 100:.0f}%\"></span></div>"


def _part_table(report: Report) -> str:
    rows = "".join(
        f"<tr><td><a href=\"#{escape(p.id)}\">{escape(p.id)}</a></td><td>{escape(p.title)}</td>"
        f"<td class=\"num\">{p.score:g} / {p.max_score:g}</td><td>{bar(p.score, p.max_score)}</td></tr>"
        for p in report.parts
    )
    total = f"<tr><th>total</th><th></th><th class=\"num\">{report.header.score:g} / {report.header.max_score:g}</th><th></th></tr>"
    return f"<table><tr><th>part</th><th></th><th class=\"num\">score</th><th></th></tr>{rows}{total}</table>"


def _part(part: PartView) -> str:
    title = f"{escape(part.id)}: {escape(part.title)}" if part.title else escape(part.id)
    checks = "\n".join(_check(c) for c in part.checks)
    return f"<section id=\"{escape(part.id)}\"><h2><span>{title}</span><span>{part.score:g} / {part.max_score:g}</span></h2>\n{checks}</section>"


def _check(check: CheckView) -> str:
    status = check.status if check.status in ("passed", "failed", "error", "timeout", "memory", "crashed") else "error"
    hidden = " <span class=\"hidden-note\">(hidden check: its inputs are not shown)</span>" if check.hidden else ""
    parts = [
        f"<div class=\"check {status}\"><header><span><span class=\"badge\">{escape(check.status)}</span>"
        f"<code>{escape(check.id)}</code>{hidden}</span><span>{check.score:g} / {check.max_score:g}</span></header>",
        f"<p>{escape(check.message)}</p>",
    ]
    if check.codes:
        codes = ", ".join(f"<code>{escape(c)}</code>" for c in check.codes)
        text = escape(check.diagnosis) if check.diagnosis else "(named by the grader; see the message above)"
        parts.append(f"<div class=\"diagnosis\"><strong>Diagnosis:</strong> {codes}<br>{text}</div>")
    if check.facts:
        parts.append("<ul class=\"facts\">" + "".join(f"<li>{escape(f)}</li>" for f in check.facts) + "</ul>")
    if check.arrays is not None:
        parts.append(_figure(check.name, check.arrays))
    return "\n".join(parts) + "</div>"


def _figure(name: str, arrays: Arrays) -> str:
    from grader.reports.pictures import data_uri, gradient_png

    png = gradient_png(arrays.expected, arrays.got, name, arrays.worst)
    case = f" on case '{arrays.case}'" if arrays.case else ""
    if arrays.expected.shape == arrays.got.shape:
        caption = (
            f"Left: the reference {name}{case}. Right: yours minus the reference; white is right, red is too "
            "large, blue too small. A sign flip shows as the left picture with its colors swapped; a "
            "wrong row or column as a stripe."
        )
    else:
        caption = (
            f"The reference {name} {tuple(arrays.expected.shape)}{case} beside yours {tuple(arrays.got.shape)}, "
            "on the same color scale: the shapes differ, so there is no difference to draw."
        )
    alt = f"{name}: reference {tuple(arrays.expected.shape)}, yours {tuple(arrays.got.shape)}"
    return f"<figure><img src=\"{data_uri(png)}\" alt=\"{escape(alt)}\"><figcaption>{escape(caption)}</figcaption></figure>"
