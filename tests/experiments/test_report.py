"""The HTML report of a sweep: self-contained, and it renders in a real browser."""

import base64
import re
import shutil

import pytest
import yaml

from scratchlab.cli import main
from scratchlab.errors import ConfigError
from scratchlab.experiments import build_report

from .conftest import TINY


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    spec = {
        "name": "demo",
        "out_dir": str(tmp / "results"),
        "seeds": 2,
        "base": {**TINY, "epochs": 2},
        "grid": {"hidden_dims": [[8], [16]]},
    }
    (tmp / "sweep.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(tmp / "sweep.yaml")])
    assert done.value.code == 0
    return tmp / "results"


def test_report_is_self_contained_with_table_and_plot(sweep_dir, capsys):
    with pytest.raises(SystemExit):
        main(["report", str(sweep_dir)])
    html = (sweep_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    for name in ("demo_H8_s42", "demo_H8_s43", "demo_H16_s42", "demo_H16_s43"):
        assert name in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert images and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "95% CI" in html


def test_report_shows_the_shared_config_and_varied_field(sweep_dir):
    html = build_report(sweep_dir).render()
    shared = html.split("Shared configuration")[1].split("</table>")[0]
    assert "digits" in shared and "hidden_dims" not in shared
    runs = html.split("<h3>Runs</h3>")[1].split("</table>")[0]
    assert "hidden_dims" in runs


def test_report_of_a_parent_folder_covers_each_sweep_subfolder(sweep_dir, tmp_path):
    parent = tmp_path / "all"
    shutil.copytree(sweep_dir, parent / "demo")
    shutil.copytree(sweep_dir, parent / "again")
    html = build_report(parent).render()
    assert "again: demo" in html and "demo: demo" in html
    assert "8 runs in" in html and html.count("<h3>Runs</h3>") == 2


def test_report_of_a_folder_without_results_is_a_clear_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"no results files in .*empty or its subfolders"):
        build_report(tmp_path / "empty")


def chromium_path():
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


def test_report_renders_in_headless_chromium(sweep_dir, tmp_path):
    if chromium_path() is None:
        pytest.skip("no Chromium on this machine (Debian package 'chromium')")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright (dev extra) is not installed"
    )
    report = build_report(sweep_dir).save(tmp_path / "report.html")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        errors = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(report.as_uri(), wait_until="load")
        decoded = page.evaluate(
            "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
        )
        rows = page.evaluate("document.querySelectorAll('table tr').length")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert decoded and all(decoded)
    assert rows > 4
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
