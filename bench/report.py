#!/usr/bin/python3
"""Turn the benchmark suite's figures.json into a report folder.

    bench/report.py figures.json [OUTDIR]

writes OUTDIR/report.md (a summary table, then one section per experiment
with its table, verdict, plot, the paper's figure and the suite's notes) and,
for every plotted experiment, <id>.dat (the data), <id>.gp (the gnuplot
script, paths relative to OUTDIR, so `gnuplot <id>.gp` there re-plots) and
<id>.png. OUTDIR defaults to the folder of figures.json.

The suite imports write_report(figures, outdir). A plot that gnuplot cannot
draw (or a missing gnuplot) never stops the report: its place says why.
Standard library only."""
import argparse
import functools
import json
import math
import os
import re
import subprocess
import sys

SMOKE_WARNING = ("**Smoke run: sample counts are tiny; these figures check "
                 "that the suite works and mean nothing.**")

# One colour per system or series; the compare plot's p99 bar is a lighter
# shade of its median bar.
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f"]
P99_COLOURS = ("#1f77b4", "#9ecae1")

GNUPLOT_TIMEOUT = 60
NUMBER = (int, float)


class FiguresError(ValueError):
    """figures.json does not follow the schema; the message says where."""


# ---------------------------------------------------------------- checking

COMMON_KEYS = {"id": str, "number": (str, int), "title": str, "what": str,
               "kind": str, "skipped": (str, type(None)),
               "paper": (str, type(None)), "notes": list, "seconds": NUMBER}
KIND_KEYS = {
    "compare": {"unit": str, "better": str, "stat": str, "columns": list,
                "systems": list},
    "scaling": {"unit": str, "better": str, "stat": str, "columns": list,
                "series": list},
    "table": {"headers": list, "rows": list},
}
META_KEYS = {"mode": str, "started": str, "seconds": NUMBER, "command": str,
             "host": dict}


def need(obj, key, where, types):
    """obj[key], or FiguresError naming where it is missing or mistyped."""
    if not isinstance(obj, dict):
        raise FiguresError(f"{where}: expected an object")
    if key not in obj:
        raise FiguresError(f"{where}: missing key '{key}'")
    if not isinstance(obj[key], types):
        raise FiguresError(f"{where}: key '{key}' has the wrong type "
                           f"({type(obj[key]).__name__})")
    return obj[key]


def need_keys(obj, spec, where):
    for key, types in spec.items():
        need(obj, key, where, types)


def check_stats(stats, where):
    if not isinstance(stats, dict) or not all(
            isinstance(v, NUMBER) or v is None for v in stats.values()):
        raise FiguresError(f"{where}: stats must map names to numbers")


def check_names(exp, names, where):
    """subject and ratios_to must name systems (series) of the experiment."""
    wanted = exp.get("ratios_to", [])
    if not isinstance(wanted, list):
        raise FiguresError(f"{where}: key 'ratios_to' must be a list")
    if "subject" in exp:
        wanted = [exp["subject"]] + wanted
    for name in wanted:
        if name not in names:
            raise FiguresError(f"{where}: '{name}' (subject/ratios_to) is "
                               f"not one of {', '.join(names)}")


def check_compare(exp, where):
    for i, system in enumerate(exp["systems"]):
        at = f"{where}: systems[{i}]"
        need_keys(system, {"name": str, "label": str, "stats": dict}, at)
        check_stats(system["stats"], at)
    check_names(exp, [s["name"] for s in exp["systems"]], where)


def check_scaling(exp, where):
    for i, series in enumerate(exp["series"]):
        at = f"{where}: series[{i}]"
        need_keys(series, {"name": str, "label": str, "points": list}, at)
        for j, point in enumerate(series["points"]):
            pat = f"{at}: points[{j}]"
            if need(point, "x", pat, NUMBER) <= 0:
                raise FiguresError(f"{pat}: x must be positive")
            if need(point, "stats", pat, (dict, type(None))) is not None:
                check_stats(point["stats"], pat)
    check_names(exp, [s["name"] for s in exp["series"]], where)


def check_table(exp, where):
    if not all(isinstance(row, list) for row in exp["rows"]):
        raise FiguresError(f"{where}: every row must be a list")
    bars = exp.get("bars")
    if bars is None:
        return
    need_keys(bars, {"unit": str, "labels": list, "groups": list},
              f"{where}: bars")
    for i, group in enumerate(bars["groups"]):
        at = f"{where}: bars: groups[{i}]"
        need_keys(group, {"name": str, "values": list}, at)
        if len(group["values"]) != len(bars["labels"]):
            raise FiguresError(f"{at}: needs one value per label")


def check_experiment(exp, where):
    need_keys(exp, COMMON_KEYS, where)
    if not re.fullmatch(r"[a-z0-9_]+", exp["id"]):
        raise FiguresError(f"{where}: id must match [a-z0-9_]+")
    if exp["kind"] not in KIND_KEYS:
        raise FiguresError(f"{where}: unknown kind '{exp['kind']}'")
    if exp["skipped"] is not None:
        return  # a skipped experiment may not have got as far as figures
    need_keys(exp, KIND_KEYS[exp["kind"]], where)
    if exp["kind"] == "table":
        check_table(exp, where)
        return
    if exp["better"] not in ("lower", "higher"):
        raise FiguresError(f"{where}: 'better' must be 'lower' or 'higher'")
    if not all(isinstance(c, list) and len(c) == 2 for c in exp["columns"]):
        raise FiguresError(f"{where}: columns must be [key, header] pairs")
    if exp["kind"] == "compare":
        check_compare(exp, where)
    else:
        check_scaling(exp, where)


def validate(figures):
    """Raise FiguresError unless figures follows the schema the report
    reads (bench/suite.py's figures.json)."""
    if not isinstance(figures, dict):
        raise FiguresError("top level: expected an object")
    need_keys(need(figures, "meta", "top level", dict), META_KEYS, "meta")
    experiments = need(figures, "experiments", "top level", list)
    for i, exp in enumerate(experiments, 1):
        name = exp.get("id", "?") if isinstance(exp, dict) else "?"
        check_experiment(exp, f"experiment {i} ('{name}')")


# ---------------------------------------------------------------- numbers

def fmt(v):
    """Up to 3 significant digits, no exponent between 1e-3 and 1e7, values
    from 1000 up as plain integers: 0.366, 20.7, 754, 10141."""
    if v is None:
        return "-"
    a = abs(v)
    if a == 0:
        return "0"
    if not 1e-3 <= a < 1e7:
        return f"{v:.3g}"
    if a >= 999.5:
        return str(round(v))
    decimals = max(0, 2 - math.floor(math.log10(a)))
    text = f"{v:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_seconds(s):
    if s < 60:
        return f"{fmt(s)} s"
    minutes, seconds = divmod(round(s), 60)
    return f"{minutes} min {seconds} s"


# ---------------------------------------------------------------- verdicts

def time_like(unit):
    """Times and rates are "faster/slower"; sizes and the like are
    "better/worse"."""
    return "ms" in unit or "/s" in unit or unit in ("s", "us", "µs", "ns")


def judge(r, exp):
    """The word for subject/other == r: 'faster', 'slower', 'better',
    'worse', or 'on par' when the ratio prints as 1.00x."""
    if round(r, 2) == 1:
        return "on par"
    wins = r < 1 if exp["better"] == "lower" else r > 1
    good, bad = ("faster", "slower") if time_like(exp["unit"]) else \
        ("better", "worse")
    return good if wins else bad


def comparisons(exp, values):
    """[(other, ratio or None, word or None)] of the subject to each of
    ratios_to; values maps names to headline values."""
    subject = values.get(exp["subject"])
    result = []
    for other in exp.get("ratios_to", []):
        r = ratio(subject, values.get(other))
        result.append((other, r, None if r is None else judge(r, exp)))
    return result


def phrase(other, r, word):
    if word is None:
        return f"no ratio to {other}"
    if word == "on par":
        return f"on par with {other} ({fmt_ratio(r)})"
    return f"{word} than {other} ({fmt_ratio(r)})"


def losses(exp, values, where="here"):
    """Bold sentences for each system the subject loses against."""
    return [f"**{exp['subject']} is {word} than {other} {where} "
            f"({fmt_ratio(r)}).**"
            for other, r, word in comparisons(exp, values)
            if word in ("slower", "worse")]


# ---------------------------------------------------------------- markdown

def cell(value):
    return str(value).replace("\n", " ").replace("|", "\\|")


def md_table(headers, rows, right_from=None):
    """A Markdown table; columns from index right_from on are
    right-aligned (numbers)."""
    def align(i):
        return "---:" if right_from is not None and i >= right_from else "---"
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "| " + " | ".join(align(i) for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def code_span(text):
    """text as Markdown code, whatever backquotes it holds."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def at_x(exp, x):
    """Where a scaling figure was taken: "at concurrent VMs = 32"."""
    return f"at {exp.get('x_label', 'concurrent VMs')} = {fmt(x)}"


def headline_values(exp):
    """Compare: {system name: headline value}."""
    return {s["name"]: s["stats"].get(exp["stat"]) for s in exp["systems"]}


def scaling_values(exp):
    """Scaling: {x: {series name: headline value or None}}."""
    table = {}
    for series in exp["series"]:
        for point in series["points"]:
            stats = point["stats"] or {}
            table.setdefault(point["x"], {})[series["name"]] = \
                stats.get(exp["stat"])
    return dict(sorted(table.items()))


# ---------------------------------------------------------------- gnuplot

@functools.lru_cache(maxsize=None)
def terminal():
    """pngcairo when this gnuplot has it, else the plain png terminal."""
    try:
        proc = subprocess.run(["gnuplot", "-e", "set terminal pngcairo"],
                              capture_output=True, text=True,
                              timeout=GNUPLOT_TIMEOUT)
        cairo = proc.returncode == 0 and "unknown" not in proc.stderr
    except (OSError, subprocess.TimeoutExpired):
        cairo = True  # no gnuplot here: keep the .gp right for one that has
    if cairo:
        return 'set terminal pngcairo size 900,520 font ",10"'
    return "set terminal png size 900,520"


def gq(text):
    """A gnuplot double-quoted string: backslashes and quotes escaped, and
    backquotes written as \\140 so gnuplot runs no command from a label."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("`", "\\140")
    return '"' + re.sub(r"[\x00-\x1f]", " ", text) + '"'


def dat_name(name):
    """A label as one whitespace-free token for a .dat file's first column
    (the plot reads labels from the .gp, the column is for readers)."""
    return re.sub(r'[\s"#]+', "_", str(name)) or "_"


def dat_value(v):
    return "-" if v is None else repr(float(v))


def preamble(exp, ylabel):
    suffix = {"lower": " (lower is better)",
              "higher": " (higher is better)"}.get(exp.get("better"), "")
    return [f"# re-plot: gnuplot {exp['id']}.gp (in this folder)",
            terminal(),
            "set termoption noenhanced",
            f"set output {gq(exp['id'] + '.png')}",
            f"set title {gq(exp['title'] + suffix)}",
            f"set ylabel {gq(ylabel)}",
            'set datafile missing "-"',
            "set key outside right top",
            "set grid ytics"]


def histogram(exp, names, labels, rows, colours, ylabel):
    """A clustered bar chart: one cluster per name, one bar per label;
    rows[i][j] is name i's value for label j. The .dat holds the values,
    then the same values as fmt() writes them, for the bars' labels."""
    n = len(labels)
    dat = ["# " + " ".join(["name"] + [dat_name(x) for x in labels] +
                           [dat_name(x) + "_text" for x in labels])]
    dat += [" ".join([dat_name(name)] + [dat_value(v) for v in row] +
                     [fmt(v) for v in row])
            for name, row in zip(names, rows)]
    tics = ", ".join(f"{gq(name)} {i}" for i, name in enumerate(names))
    # gnuplot's "" repeats the previous plot's file
    files = [gq(exp["id"] + ".dat")] + ['""'] * (n - 1)
    plots = [f"{file} using {j + 2} title {gq(label)} "
             f"lc rgb {gq(colours[j % len(colours)])}"
             for j, (file, label) in enumerate(zip(files, labels))]
    # each bar's value above it, so a 0 is told apart from a missing value;
    # bar j of a cluster sits (j - (n-1)/2) bar widths off its centre, a
    # bar being 1/(n+1) wide with the gap of 1
    plots += [f'"" using ($0 + {(j - (n - 1) / 2) / (n + 1)!r}):'
              f"{j + 2}:{n + j + 2} with labels offset 0,0.7 notitle"
              for j in range(n)]
    gp = preamble(exp, ylabel) + [
        "set style data histograms",
        "set style histogram clustered gap 1",
        "set style fill solid 1.0 border -1",
        "set yrange [0:*]",
        "set offsets 0, 0, graph 0.08, 0",
        f"set xtics ({tics})",
        "plot " + ", \\\n     ".join(plots)]
    return dat, gp


def compare_plot(exp):
    keys = [exp["stat"]]
    if exp["stat"] != "p99" and "p99" in [c[0] for c in exp["columns"]]:
        keys.append("p99")
    rows = [[s["stats"].get(k) for k in keys] for s in exp["systems"]]
    return histogram(exp, [s["name"] for s in exp["systems"]], keys, rows,
                     P99_COLOURS, f"{exp['stat']} ({exp['unit']})")


def table_plot(exp):
    bars = exp["bars"]
    rows = [g["values"] for g in bars["groups"]]
    return histogram(exp, [g["name"] for g in bars["groups"]],
                     bars["labels"], rows, COLOURS, bars["unit"])


def scaling_plot(exp):
    """Lines with points per series (one .dat block each), p99 dashed in
    the same colour; skipped points are left out."""
    dat, plots, block = [], [], 0
    with_p99 = exp["stat"] != "p99"
    xs = sorted(scaling_values(exp))
    for i, series in enumerate(exp["series"]):
        points = [p for p in series["points"] if p["stats"] is not None]
        if not points:
            continue
        dat += [f"# {dat_name(series['name'])}: x {exp['stat']} p99"]
        dat += [" ".join(dat_value(v) for v in (p["x"], p["stats"].get(
                    exp["stat"]), p["stats"].get("p99"))) for p in points]
        dat += ["", ""]
        colour = gq(COLOURS[i % len(COLOURS)])
        source = f"{gq(exp['id'] + '.dat')} index {block}"
        plots.append(f"{source} using 1:2 with linespoints lw 2 pt 7 "
                     f"lc rgb {colour} title {gq(series['name'])}")
        if with_p99 and any("p99" in p["stats"] for p in points):
            plots.append(f"{source} using 1:3 with linespoints lw 1.5 pt 6 "
                         f"dt 2 lc rgb {colour} "
                         f"title {gq(series['name'] + ' p99')}")
        block += 1
    gp = preamble(exp, f"{exp['stat']} ({exp['unit']})")
    gp += [f"set xlabel {gq(exp.get('x_label', 'concurrent VMs'))}",
           "set yrange [0:*]"]
    if xs:
        gp.append("set xtics (" + ", ".join(fmt(x) for x in xs) + ")")
    if xs and xs[-1] / xs[0] >= 8:
        gp += ["set logscale x 2",
               f"set xrange [{xs[0] / 1.4!r}:{xs[-1] * 1.4!r}]"]
    elif xs:
        pad = (xs[-1] - xs[0]) * 0.05 or 0.5
        gp += [f"set xrange [{xs[0] - pad!r}:{xs[-1] + pad!r}]"]
    gp.append("plot " + ", \\\n     ".join(plots) if plots else
              "plot NaN notitle  # no series has any point")
    return dat, gp


def plot_source(exp):
    """(dat lines, gp lines) for an experiment with a plot, else None."""
    if exp["skipped"] is not None:
        return None
    if exp["kind"] == "compare":
        return compare_plot(exp)
    if exp["kind"] == "scaling":
        return scaling_plot(exp)
    if exp.get("bars") is not None:
        return table_plot(exp)
    return None


def gnuplot_error(stderr, returncode):
    """The line that says what went wrong: gnuplot echoes the failing
    command and a caret first, and may print warnings before the error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    located = [line for line in lines if re.search(r" line \d+: ", line)]
    errors = [line for line in located if "warning:" not in line]
    for candidates in (errors, located, lines):
        if candidates:
            return candidates[0]
    return f"gnuplot exited with status {returncode}"


def run_gnuplot(outdir, ident):
    """Draw outdir/<ident>.png from <ident>.gp; None, or why it failed."""
    png = os.path.join(outdir, ident + ".png")
    if os.path.exists(png):
        os.remove(png)  # a stale plot must not pass for this run's
    try:
        proc = subprocess.run(["gnuplot", ident + ".gp"], cwd=outdir,
                              capture_output=True, text=True,
                              timeout=GNUPLOT_TIMEOUT)
    except FileNotFoundError:
        return "gnuplot not found"
    except subprocess.TimeoutExpired:
        return f"gnuplot took more than {GNUPLOT_TIMEOUT} s"
    except OSError as e:
        return f"cannot run gnuplot: {e}"
    if proc.returncode != 0 or not os.path.isfile(png) or \
            os.path.getsize(png) == 0:
        return gnuplot_error(proc.stderr, proc.returncode)
    return None


def make_plot(exp, outdir):
    """Write <id>.dat and <id>.gp and run gnuplot. None when the
    experiment has no plot, else ("ok" or the failure)."""
    source = plot_source(exp)
    if source is None:
        return None
    dat, gp = source
    for ext, lines in (("dat", dat), ("gp", gp)):
        with open(os.path.join(outdir, f"{exp['id']}.{ext}"), "w",
                  encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return run_gnuplot(outdir, exp["id"]) or "ok"


# ---------------------------------------------------------------- report

def header(meta):
    host = meta["host"]
    facts = [f"{host.get('cpus', '?')} CPUs",
             f"kvm module {host.get('kvm', '?')}",
             f"kernel {host.get('kernel', '?')}",
             host.get("qemu", "QEMU ?"), host.get("ssh", "ssh ?")]
    lines = ["# vsb benchmark report", ""]
    if meta["mode"] == "smoke":
        lines += [SMOKE_WARNING, ""]
    lines += [f"Mode **{meta['mode']}**, started {meta['started']}, "
              f"wall time {fmt_seconds(meta['seconds'])}. "
              f"Host: {', '.join(str(f) for f in facts)}. "
              f"Command: {code_span(meta['command'])}.", ""]
    return lines


def summary_row(exp):
    """[number, title, subject, headline, verdict, paper] of a compare or
    scaling experiment."""
    paper = exp["paper"] or "-"
    if "subject" not in exp:
        return [exp["number"], exp["title"], "-", "-", "-", paper]
    subject = exp["subject"]
    if exp["kind"] == "compare":
        values, where = headline_values(exp), ""
    else:
        # the largest x at which the subject has a figure
        measured = [(x, v) for x, v in scaling_values(exp).items()
                    if v.get(subject) is not None]
        if not measured:
            return [exp["number"], exp["title"], subject, "-",
                    "no figures", paper]
        x, values = measured[-1]
        where = " " + at_x(exp, x)
    name = next((h for k, h in exp["columns"] if k == exp["stat"]), exp["stat"])
    headline = f"{name} {fmt(values.get(subject))} {exp['unit']}" \
        f"{where}"
    verdict = ", ".join(phrase(*c) for c in comparisons(exp, values)) or "-"
    return [exp["number"], exp["title"], subject, headline, verdict, paper]


def summary(experiments):
    rows = [summary_row(e) for e in experiments
            if e["skipped"] is None and e["kind"] in ("compare", "scaling")]
    lines = ["## Summary", ""]
    if rows:
        lines += [md_table(["#", "experiment", "subject", "headline",
                            "verdict", "paper"], rows), ""]
    skipped = [f"{e['number']}. {e['title']}" for e in experiments
               if e["skipped"] is not None]
    if skipped:
        lines += ["Skipped: " + "; ".join(skipped) + ".", ""]
    return lines


def with_unit(header, unit):
    """A column header with the figure's unit, unless it names its own
    ("received (KiB)")."""
    return header if "(" in header else f"{header} ({unit})"


def compare_body(exp):
    systems, unit = exp["systems"], exp["unit"]
    keys = [k for k, _ in exp["columns"] if k != "n"]
    with_n = any("n" in s["stats"] for s in systems)
    values = headline_values(exp)
    ratios_to = exp.get("ratios_to", [])
    headers = ["system"] + [with_unit(h, unit) for k, h in exp["columns"]
                            if k != "n"]
    headers += ["n"] * with_n + [f"{exp['stat']} / {o}" for o in ratios_to]
    rows = []
    for s in systems:
        row = [s["label"]] + [fmt(s["stats"].get(k)) for k in keys]
        row += [fmt(s["stats"].get("n"))] * with_n
        row += [fmt_ratio(ratio(values[s["name"]], values[o]))
                for o in ratios_to]
        rows.append(row)
    lines = [md_table(headers, rows, right_from=1), ""]
    if "subject" in exp:
        for line in losses(exp, values):
            lines += [line, ""]
    return lines


def scaling_body(exp):
    unit, x_label = exp["unit"], exp.get("x_label", "concurrent VMs")
    subject = exp.get("subject")
    ratios_to = exp.get("ratios_to", []) if subject else []
    headers = [x_label] + [f"{s['name']} {with_unit(h, unit)}"
                           for s in exp["series"] for _, h in exp["columns"]]
    headers += [f"{subject} / {o}" for o in ratios_to]
    by_x = scaling_values(exp)
    rows, verdicts = [], []
    for x, values in by_x.items():
        row = [fmt(x)]
        for s in exp["series"]:
            point = next((p for p in s["points"] if p["x"] == x), None)
            row += series_cells(exp, point)
        row += [fmt_ratio(ratio(values.get(subject), values.get(o)))
                for o in ratios_to]
        rows.append(row)
        if subject:
            verdicts += losses(exp, values, at_x(exp, x))
    lines = [md_table(headers, rows, right_from=1), ""]
    for line in verdicts:
        lines += [line, ""]
    return lines


def series_cells(exp, point):
    """A series' cells in one row of the scaling table."""
    width = len(exp["columns"])
    if point is None:
        return ["-"] * width
    if point["stats"] is None:
        reason = point.get("skipped") or "no figures"
        return [f"skipped: {reason}"] + [""] * (width - 1)
    return [fmt(point["stats"].get(k)) for k, _ in exp["columns"]]


def section(exp, plot):
    """The Markdown of one experiment; plot is make_plot's result."""
    lines = [f"## {exp['number']}. {exp['title']}", ""]
    if exp["skipped"] is not None:
        return lines + [f"_Skipped: {exp['skipped']}_", ""]
    lines += [exp["what"], "", f"_Took {fmt_seconds(exp['seconds'])}._", ""]
    if exp["kind"] == "compare":
        lines += compare_body(exp)
    elif exp["kind"] == "scaling":
        lines += scaling_body(exp)
    else:
        lines += [md_table(exp["headers"], exp["rows"]), ""]
    if plot == "ok":
        alt = re.sub(r"([\[\]])", r"\\\1", exp["title"])
        lines += [f"![{alt}]({exp['id']}.png)", ""]
    elif plot is not None:
        lines += [f"(plot failed: {plot})", ""]
    if exp["paper"]:
        lines += [f"Paper: {exp['paper']}", ""]
    if exp["notes"]:
        lines += [f"- {note}" for note in exp["notes"]] + [""]
    return lines


def files_section(source, plots):
    lines = ["## Files", "", f"- `{source}`: the figures this report "
             "was made from"]
    for ident, plot in plots.items():
        png = f"`{ident}.png`" if plot == "ok" else \
            f"`{ident}.png` (not drawn: {plot})"
        lines.append(f"- `{ident}.dat`, `{ident}.gp`, {png}")
    if plots:
        lines += ["", "Re-plot one figure: `gnuplot <id>.gp` in this folder."]
    return lines + [""]


def write_report(figures, outdir, source="figures.json"):
    """Write outdir/report.md and the plots of figures (figures.json as a
    dict) and return report.md's path. source is how the Files section
    names the figures file. Raises FiguresError when figures does not
    follow the schema; never for a plot."""
    validate(figures)
    os.makedirs(outdir, exist_ok=True)
    experiments = figures["experiments"]
    lines = header(figures["meta"]) + summary(experiments)
    plots = {}
    for exp in experiments:
        plot = make_plot(exp, outdir)
        if plot is not None:
            plots[exp["id"]] = plot
        lines += section(exp, plot)
    lines += files_section(source, plots)
    path = os.path.join(outdir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def source_name(path, outdir):
    """figures.json as the Files section names it: relative when it is
    inside outdir, else absolute."""
    rel = os.path.relpath(path, outdir)
    return os.path.abspath(path) if rel.startswith("..") else rel


def main():
    parser = argparse.ArgumentParser(
        description="Write report.md and gnuplot PNGs from the benchmark "
        "suite's figures.json.")
    parser.add_argument("figures", help="figures.json written by the suite")
    parser.add_argument("outdir", nargs="?",
                        help="report folder (default: the folder of "
                        "figures.json)")
    args = parser.parse_args()
    outdir = args.outdir or os.path.dirname(args.figures) or "."
    try:
        with open(args.figures, encoding="utf-8") as f:
            figures = json.load(f)
        path = write_report(figures, outdir, source_name(args.figures,
                                                        outdir))
    except OSError as e:
        sys.exit(f"report.py: {e.filename or args.figures}: {e.strerror}")
    except json.JSONDecodeError as e:
        sys.exit(f"report.py: {args.figures} is not valid JSON: {e}")
    except (FiguresError, UnicodeDecodeError) as e:
        sys.exit(f"report.py: {args.figures}: {e}")
    print(path)


if __name__ == "__main__":
    main()
