"""Study and run reports: self-contained, escaped, robust to missing data,
and clean when a real browser (headless Chromium) loads them."""
import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from ganscape.study import analysis as A
from ganscape.study import report as R

PAYLOAD = "<script>alert(1)</script>"
# a folder name cannot hold the slash of </script>; this one needs none
FOLDER_PAYLOAD = "<img src=x onerror=alert(1)>"


# ----------------------------------------------------------------------------- helpers

class Tags(HTMLParser):
    """Every start tag of a page as (name, {attr: value})."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def check_self_contained(text):
    """No script, no external resource, no event handler; every <img> a PNG
    data: URI that decodes. Returns the decoded image bytes in page order."""
    from PIL import Image

    tags = Tags(text).tags
    assert not {t for t, _ in tags} & {"script", "link", "iframe", "object", "embed", "base", "form"}
    images = []
    for tag, attrs in tags:
        for k, v in attrs.items():
            assert not k.startswith("on"), (tag, k)
            assert not re.match(r"\s*(https?:)?//", v or "", re.I), (tag, k, v)
        if tag == "img":
            src = attrs.get("src", "")
            assert src.startswith("data:image/png;base64,"), src[:60]
            data = base64.b64decode(src.split(",", 1)[1], validate=True)
            Image.open(io.BytesIO(data)).verify()
            images.append(data)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "url(" not in text and "@import" not in text
    return images


def png(path, color, size=(16, 16)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="PNG")
    return path.read_bytes()


def make_run(folder, steps=(10, 20)):
    """A tiny run folder written by hand, with a payload in its name, config and status."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"name": PAYLOAD, "seed": 0, "note": FOLDER_PAYLOAD}))
    (folder / "status.json").write_text(json.dumps({"status": "diverged", "step": 20,
                                                    "reason": f"diverged: {PAYLOAD}"}))
    stats = [{"step": 5, "d_loss": 1.2, "g_loss": 0.7, "d_real": 0.6, "d_fake": 0.4, "sec_per_step": 0.01},
             {"step": 10, "d_loss": 1.1, "g_loss": 0.8, "d_real": 0.7, "d_fake": 0.3, "sec_per_step": 0.01},
             {"step": 15, "d_loss": "nan", "g_loss": "inf", "d_real": 0.7, "d_fake": 0.3, "sec_per_step": 0.01}]
    (folder / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stats) + '{"step": 20, "d_lo')
    metrics = [{"step": 10, "source": "train", "results": {"fid": 41.5, "kid": 0.02}, "n_fake": 500},
               {"step": 20, "fid": 33.25, "n": 500, "source": "train"}]  # the flat form is read too
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    return {s: png(folder / "samples" / f"step_{s:06d}.png", (10 * i, 100, 200)) for i, s in enumerate(steps)}


def uri(data):
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def make_study(root):
    study = root / "study"
    run = study / "trials" / f"trial-0001-{FOLDER_PAYLOAD}"
    grids = make_run(run)
    table = []
    levels = ["ns", PAYLOAD, "a$b"]  # '$' would start matplotlib mathtext
    for n in range(12):
        state = ("complete", "complete", "complete", "pruned", "failed", "complete")[n % 6]
        value = 40.0 - n if state == "complete" else None
        table.append({
            "number": n, "state": state, "params": {"loss": levels[n % 3], "norm": ["sn", "none"][n % 2],
                                                    FOLDER_PAYLOAD: 1.5},
            "value": value, "seed_values": [] if value is None else [value, value + 1.0],
            "reason": f"diverged: {PAYLOAD}" if state == "failed" else None,
            "run_dirs": [str(run)], "seconds": 10.0 + (n * 7) % 5, "steps": 100 if state == "complete" else 30,
            "examples_seen": 6400, "curve": [[10, 50.0 - n], [20, 45.0 - n]]})
    spec = f"name: '{PAYLOAD}'\ndescription: {FOLDER_PAYLOAD}\nsampler: random\ntrials: 12\n"
    (study / "reruns.json").write_text(json.dumps({"metric": "fid", "direction": "minimize", "reruns": [
        {"label": f"loss={PAYLOAD}", "number": 11, "params": {"loss": PAYLOAD}, "search_values": [27.5],
         "values": [29.0, 31.0, None]},
        {"label": "loss=ns", "number": 6, "params": {"loss": "ns"}, "search_values": [34.0],
         "values": [None, None, None]}]}))
    return study, run, table, spec, grids


@pytest.fixture(scope="module")
def study_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    study, run, table, spec, grids = make_study(root)
    imp = A.Importances({"loss": 0.75, PAYLOAD: 0.25})
    html_path, md_path = R.study_report(study, table, spec, ["loss", "norm"], importance=imp, n_boot=200,
                                        ran_with={"trials": 7, "overrides": ["train.steps=30", f"name={PAYLOAD}"],
                                                  "steps": 30})
    return {"html": html_path, "md": md_path, "run": run, "table": table, "grids": grids}


# ----------------------------------------------------------------------------- escaping

def test_esc():
    assert R.esc(PAYLOAD) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert R.esc("\"'&") == "&quot;&#x27;&amp;"
    assert R.esc(3) == "3" and R.esc(None) == "None"
    assert R._md("a|b\n<c>") == "a\\|b \\<c\\>"
    assert R._mpl("a$b") == "a\\$b"


def test_study_report_is_escaped_and_self_contained(study_report):
    text = study_report["html"].read_text()
    assert study_report["html"].name == "report.html" and study_report["md"].name == "report.md"
    assert study_report["html"].parent == study_report["run"].parent.parent
    for raw in (PAYLOAD, FOLDER_PAYLOAD):
        assert raw not in text and R.esc(raw) in text
        assert raw not in study_report["md"].read_text()
    assert "<script" not in text.lower()
    images = check_self_contained(text)
    # 2 box plots, 2 budget plots, importance, Pareto, curves, examples/wall-clock, and sample grids
    assert len(images) >= 8 + 2
    # the best trial's newest grid is inlined, an older one is not
    assert uri(study_report["grids"][20]) in text and uri(study_report["grids"][10]) not in text
    for section in ("Summary", "Top trials", "Factor: loss", "Factor: norm", "budget", "Hyperparameter importance",
                    "Pareto front", "against examples seen and wall-clock", "Pruning", "Seed spread",
                    "Best settings over seeds", "Failed and stopped trials", "Spec"):
        assert section in text, section
    # reruns.json: mean +- std over the finished fresh seeds, failed seeds named, the failed setting last,
    # the search's own (winning) value apart
    reruns = text.split("Best settings over seeds", 1)[1].split("<h2>", 1)[0]
    assert "30 \u00b1 1.414" in reruns and "29, 31, failed" in reruns and "failed, failed, failed" in reruns
    assert ">27.5<" in reruns and "3 fresh seeds" in reruns and "winner" in reruns
    assert reruns.index(R.esc(f"loss={PAYLOAD}")) < reruns.index("loss=ns")
    assert "trial 11" in text  # the best: 40 - 11 = 29
    assert "<pre>name: &#x27;&lt;script&gt;" in text
    # the spec section says what the study ran with: the command's --trials and --set, not only the spec's
    spec_part = text.split("<h2>Spec</h2>", 1)[1]
    assert "<td>trials</td><td class=\"num\">7</td><td class=\"num\">12</td>" in spec_part
    assert "train.steps=30" in spec_part and R.esc(f"name={PAYLOAD}") in spec_part
    assert "<td>steps per trial</td><td class=\"num\">30</td>" in spec_part
    # the budget band is the spread of best-of-k outcomes, not a confidence interval
    assert "spread of best-of-k outcomes" in text and "not a confidence interval" in text

def test_study_markdown(study_report):
    md = study_report["md"].read_text()
    assert "Trials: 12 (8 complete, 2 pruned, 2 failed, 0 running, 0 waiting)." in md
    assert "Best fid: **29** (trial 11)" in md
    assert "| loss | ns | 34 | 6 | 2 |" in md and "| loss | a$b | 29 | 11 | 4 |" in md
    assert "| loss | 0.75 |" in md and "| \\<script\\>alert(1)\\</script\\> | 0.25 |" in md
    assert "Ran with: trials 7; --set (after the spec's set) train.steps=30 name=\\<script\\>" in md
    # markdown escapes, not HTML entities: the file reads as text, and rendered it holds no tag
    assert not re.search(r"&(#x?[0-9a-fA-F]+|[a-z]+);", md), md
    markdown = pytest.importorskip("markdown", reason="Python-Markdown renders report.md here (pip install markdown)")
    rendered = markdown.markdown(md, extensions=["tables"])
    assert "<script" not in rendered and "<img" not in rendered


def test_markdown_escapes_render_as_the_text():
    # CommonMark renders a backslash-escaped punctuation character as itself; check the escapes are
    # exactly those (every escaped character is punctuation), and a plain text needs none
    for raw in ("it's d_norm, lr=0.0003 & beta2", "a|b <c> *d* `e` [f](g) _h_ ~i~ &amp; \\j"):
        text = R._md(raw)
        assert re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text) == raw
    assert R._md("it's d_norm, lr=0.0003 & beta2") == "it's d_norm, lr=0.0003 & beta2"


def test_study_with_no_completed_trial_still_renders(tmp_path):
    table = [{"number": 0, "state": "failed", "params": {"loss": "ns"}, "value": None, "seed_values": [],
              "reason": "failed: out of memory", "run_dirs": [str(tmp_path / "missing")], "seconds": None,
              "steps": None, "examples_seen": None, "curve": []},
             {"number": 1, "state": "running", "params": {"loss": "ls"}, "value": None, "seed_values": [],
              "reason": None, "run_dirs": [], "seconds": 1.0, "steps": 3, "examples_seen": 96, "curve": [[2, 9.0]]}]
    why = A.Importances(reason="importance needs at least 2 completed trials; the study has 0")
    html_path, md_path = R.study_report(tmp_path / "s", table, "name: empty\n", ["loss", "absent"], importance=why)
    text = html_path.read_text()
    assert "No trial has completed yet" in text and "No completed trial sets loss" in text
    assert "No trial sets absent" in text and "needs at least 2 completed trials" in text
    assert "out of memory" in text and "No trial was pruned" in text
    assert "Not run yet: `ganscape study rerun" in text
    check_self_contained(text)
    # a damaged reruns.json is named, not fatal
    (tmp_path / "s" / "reruns.json").write_text('{"reruns": [{"label": ')
    html_path, _ = R.study_report(tmp_path / "s", table, "name: empty\n", ["loss"])
    assert "could not read reruns.json" in html_path.read_text()
    assert "No trial has completed yet." in md_path.read_text()
    # nothing at all, no spec, no importance
    html_path, md_path = R.study_report(tmp_path / "nothing", [], "", ["loss"])
    assert "No trial has completed yet" in html_path.read_text() and "Not computed" in html_path.read_text()
    assert "ganscape study: nothing" in html_path.read_text()


# ----------------------------------------------------------------------------- run report

def test_run_report(tmp_path):
    run = tmp_path / f"run-{FOLDER_PAYLOAD}"
    grids = make_run(run, steps=(10, 20, 30))
    path = R.run_report(run)
    assert path == run / "report.html"
    text = path.read_text()
    for raw in (PAYLOAD, FOLDER_PAYLOAD):
        assert raw not in text and R.esc(raw) in text
    images = check_self_contained(text)
    assert len(images) == 2 + 3  # training curves, metric curves, three grids in step order
    assert images[2:] == [grids[10], grids[20], grids[30]]
    assert "diverged: " + R.esc(PAYLOAD) in text
    assert ">41.5<" in text and ">33.25<" in text and ">0.02<" in text  # both metrics.jsonl forms
    assert "<pre>{\n  &quot;name&quot;: &quot;&lt;script&gt;" in text
    # an evenly spaced subset keeps the first and the last grid
    few = check_self_contained(R.run_report(run, max_grids=2).read_text())
    assert few[2:] == [grids[10], grids[30]]


def test_run_report_of_an_empty_folder(tmp_path):
    text = R.run_report(tmp_path).read_text()
    for note in ("No status.json", "No training statistics", "No evaluation recorded", "No sample grids",
                 "No config.json"):
        assert note in text
    check_self_contained(text)
    with pytest.raises(FileNotFoundError):
        R.run_report(tmp_path / "missing")


def test_run_report_of_a_real_run(tiny_tree, tmp_path):
    import ganscape
    from ganscape.config import from_dict

    tiny_tree["eval"] = {"every": 10, "metrics": ["fid"], "n": 150}
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    text = R.run_report(run).read_text()
    images = check_self_contained(text)
    assert len(images) == 2 + 2  # curves, fid, the grids of steps 10 and 20
    assert ">completed<" in text
    from ganscape.train import rundir
    fids = [r["results"]["fid"] for r in rundir.read_jsonl(run / "metrics.jsonl")]
    assert len(fids) == 2 and all(f">{R._fmt(f)}<" in text for f in fids)


# ----------------------------------------------------------------------------- a real browser

CONSOLE = re.compile(r":CONSOLE[(:\]]|Uncaught")


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def load(browser, page, profile):
    """Load `page` in headless Chromium; return (exit code, the DOM after
    loading, the browser's console lines)."""
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)  # a hang guard, not a speed limit
    return r.returncode, r.stdout, [line for line in r.stderr.splitlines() if CONSOLE.search(line)]


def test_reports_load_cleanly_in_headless_chromium(study_report, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium or chromium-browser binary on PATH (apt-get install chromium)")
    # the check can see a broken page: a script error reaches the console
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><title>bad</title><script>undefined_function()</script>")
    rc, dom, console = load(browser, bad, tmp_path / "profile")
    assert rc == 0 and any("Uncaught" in line for line in console), console

    run_page = R.run_report(study_report["run"])
    for page, title in ((study_report["html"], "ganscape study: "), (run_page, "ganscape run: ")):
        rc, dom, console = load(browser, page, tmp_path / "profile")
        assert rc == 0 and console == [], console
        assert f"<title>{title}" in dom and "<h1>" + title in dom
        check_self_contained(dom)  # no injected <script>, no on* handler, every image a data: URI
        assert R.esc(PAYLOAD) in dom
    # the study page as the browser built it: what the study ran with, and the labelled budget band
    rc, dom, _ = load(browser, study_report["html"], tmp_path / "profile")
    assert "steps per trial" in dom and "train.steps=30" in dom and "spread of best-of-k outcomes" in dom


def page_width(browser, page, tmp_path, width=1400):
    """(page scrollWidth, page clientWidth, the most any table's box must
    scroll) of `page` shown `width` px wide in headless Chromium. The page
    forbids scripts (its CSP), so a harness page frames it and measures it
    from outside."""
    harness = tmp_path / f"harness-{page.stem}.html"
    measure = ("var c = this.contentDocument, d = c.documentElement, w = 0; "
               "c.querySelectorAll('.scroll').forEach(function (e) { w = Math.max(w, e.scrollWidth - e.clientWidth); }); "
               "document.body.setAttribute('data-width', d.scrollWidth + ' ' + d.clientWidth + ' ' + w);")
    harness.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe src="{page.as_uri()}" '
        f'style="width:{width}px;height:900px;border:0" onload="{measure}"></iframe></body></html>')
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
           f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},900", "--dump-dom", harness.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # a hang, not a speed limit
    m = re.search(r'data-width="(\d+) (\d+) (\d+)"', r.stdout)
    assert m, r.stdout[-500:] + r.stderr[-500:]
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def test_no_report_overflows_a_1400_px_window(study_report, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium or chromium-browser binary on PATH (apt-get install chromium)")
    from ganscape.compare import COLUMNS, write_report
    values = {"family": "likelihood model", "method": "flowgan", "generator": "realnvp-multiscale",
              "fid": 12.3456, "precision": 0.8123, "recall": 0.6543, "bits_per_dim": 2.2512, "nll_nats": 1234.5678,
              "nll_kind": "dequantized bound", "elbo_bits_per_dim": 2.4567, "train_seconds": 1234.567,
              "steps": 123456, "sample_seconds_per_1000": 0.012345, "sampler_params": 1234567,
              "total_params": 12345678, "return": None, "return_std": None, "env_steps": None}
    assert set(values) == set(COLUMNS[1:])  # policies' columns are empty for image families: not shown
    rows = [{"run": str(tmp_path / f"runs/realnvp-digits-{i:03d}"), **values} for i in range(4)]
    compare_page = write_report(rows, tmp_path / "compare")
    for page in (compare_page, study_report["html"], R.run_report(study_report["run"])):
        scroll, client, table_scroll = page_width(browser, page, tmp_path)
        # the window less a vertical scroll bar; neither the page nor a table in it scrolls sideways
        assert client > 1350 and scroll <= client and table_scroll == 0, (page.name, scroll, client, table_scroll)


def test_a_short_run_gets_tables_not_single_point_plots(tmp_path):
    run = tmp_path / "short"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"name": "short"}))
    (run / "status.json").write_text(json.dumps({"status": "completed", "step": 10}))
    (run / "stats.jsonl").write_text(json.dumps({"step": 10, "d_loss": 1.25, "g_loss": 0.75}) + "\n")
    (run / "metrics.jsonl").write_text(json.dumps({"step": 10, "source": "train", "results": {"fid": 41.5}}) + "\n")
    text = R.run_report(run).read_text()
    assert 'alt="training curves"' not in text and 'alt="metric curves"' not in text
    assert "no curve to draw" in text
    assert ">1.25<" in text and ">0.75<" in text and ">41.5<" in text  # the values, in tables
    # a metric evaluated twice gets its curve; one evaluated once is left to the table
    recs = [{"step": 10, "results": {"fid": 41.5, "kid": 0.02}}, {"step": 20, "results": {"fid": 33.0}}]
    assert list(R.metric_curves(recs)) == ["fid"]
    assert R.stats_curve_keys([{"step": 5, "a": 1.0, "b": 2.0}, {"step": 10, "a": 0.5, "b": "nan"}]) == ["a"]
    (run / "metrics.jsonl").write_text("".join(json.dumps({"source": "train", **r}) + "\n" for r in recs))
    text = R.run_report(run).read_text()
    assert 'alt="metric curves"' in text and "Evaluated at one step only (kid)" in text
