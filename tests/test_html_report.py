"""``report.html`` in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, installed by ``make browser``) driven by Selenium opens the reports that
``mri-recon evaluate`` writes, in both forms, and checks what a reader sees: no console errors,
the summary's numbers equal ``report.json``'s, sorting reorders the per-volume rows, and the
slice slider changes the shown images and the slice's metrics. Each test saves a screenshot in
its ``tmp_path``."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_main

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium: pip install -e .[dev]")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver: make browser",
)
CS_ARGS = ("--baselines", "cs", "--cs-iterations", "3")


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium with its console log kept; the local driver, never a download."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def checkpoint_report(tiny_checkpoint: Path, small_multicoil: Path, tmp_path_factory) -> Path:
    """``report.json`` of ``evaluate --checkpoint`` on the val split: zero-filled, CS and the
    U-Net at 4x and 8x; ``report.html`` beside it."""
    out = tmp_path_factory.mktemp("checkpoint_report") / "report.json"
    data = small_multicoil / "multicoil_val"
    code = run_quietly("evaluate", "--checkpoint", tiny_checkpoint, "--data-path", data,
                       "--accelerations", "4", "8", "--center-fractions", "0.08", "0.04",
                       *CS_ARGS, "--output", out)  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def folders_report(small_multicoil: Path, tmp_path_factory) -> Path:
    """``report.json`` of ``evaluate --target-path --predictions-path`` on CS reconstructions
    of the test split (predictions from any source); ``report.html`` beside it."""
    root = tmp_path_factory.mktemp("folders_report")
    code = run_quietly("reconstruct", "--baseline", "cs", "--cs-iterations", "3",
                       "--data-path", small_multicoil / "multicoil_test",
                       "--output-path", root / "predictions")  # fmt: skip
    assert code == 0
    code = run_quietly("evaluate", "--target-path", small_multicoil / "multicoil_test_truth",
                       "--predictions-path", root / "predictions",
                       "--output", root / "report.json")  # fmt: skip
    assert code == 0
    return root / "report.json"


def run_quietly(*args) -> int:
    from mri_recon.cli import main

    return main([str(arg) for arg in args])


def open_report(browser, report: Path) -> dict:
    """Opens the ``report.html`` beside ``report``; returns ``report.json``'s content."""
    html = report.with_suffix(".html")
    assert html.is_file()
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(html.as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text
    return json.loads(report.read_text())


def console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(browser, path: Path) -> None:
    """The whole page, from its top, as a PNG: the window grown to the page's size."""
    width, height = browser.execute_script(
        "var page = document.documentElement; return [page.scrollWidth, page.scrollHeight];"
    )
    browser.set_window_size(max(width + 40, 1400), height + 160)  # + the window's frame
    browser.execute_script("window.scrollTo(0, 0);")
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 0
    browser.set_window_size(1400, 1000)


def summary_cells(browser) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(group, method, metric) -> (mean, std), read from the summary table's cells."""
    cells = {}
    for row in browser.find_elements(By.CSS_SELECTOR, "#summary tbody tr"):
        group, method = row.get_attribute("data-group"), row.get_attribute("data-method")
        for cell in row.find_elements(By.CSS_SELECTOR, "td[data-metric]"):
            key = (group, method, cell.get_attribute("data-metric"))
            cells[key] = (
                float(cell.get_attribute("data-mean")),
                float(cell.get_attribute("data-std")),
            )
            shown = cell.text.split(" ± ")
            assert len(shown) == 2 and all(shown), cell.text  # mean ± std, as printed
    return cells


def expected_summary(report: dict) -> dict[tuple[str, str, str], tuple[float, float]]:
    expected = {}
    for group, stats in report["summary"].items():
        for method, scores in stats.items():
            if not isinstance(scores, dict):
                continue  # the volume count
            for metric in ("nmse", "psnr", "ssim"):
                expected[(group, method, metric)] = (
                    scores[f"{metric}_mean"],
                    scores[f"{metric}_std"],
                )
    return expected


def volume_names(browser) -> list[str]:
    return [row.find_element(By.TAG_NAME, "td").text for row in
            browser.find_elements(By.CSS_SELECTOR, "#volumes tbody tr")]  # fmt: skip


def column_values(browser, title: str) -> list[float]:
    headers = [
        th.text.rstrip(" ▲▼") for th in browser.find_elements(By.CSS_SELECTOR, "#volumes th")
    ]
    column = headers.index(title) + 1
    cells = browser.find_elements(By.CSS_SELECTOR, f"#volumes tbody td:nth-child({column})")
    return [float(cell.get_attribute("data-value")) for cell in cells]


def shown_slice(browser) -> tuple[list[str], list[str], str]:
    """The viewer's panel images, the slice metrics table's rows and the slice label."""
    images = [
        img.get_attribute("src") for img in browser.find_elements(By.CSS_SELECTOR, "#panels img")
    ]
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#slice-metrics tbody tr")]
    return images, rows, browser.find_element(By.ID, "slice-label").text


@pytest.mark.slow
def test_checkpoint_report_in_the_browser(browser, checkpoint_report: Path, tmp_path: Path) -> None:
    report = open_report(browser, checkpoint_report)
    assert console_errors(browser) == []
    assert report["methods"] == ["zero-filled", "CS", "U-Net"]

    # the summary: every mean and std of report.json, by acceleration, for each method
    assert summary_cells(browser) == expected_summary(report)
    assert {group for group, _, _ in summary_cells(browser)} >= {"4x", "8x"}
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg[id^=plot-] polyline")) == 2 * 3

    # sorting: by CS SSIM, ascending then descending
    before = volume_names(browser)
    header = browser.find_element(By.XPATH, "//table[@id='volumes']//th[.='CS SSIM']")
    header.click()
    ascending = column_values(browser, "CS SSIM")
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = column_values(browser, "CS SSIM")
    assert descending == sorted(ascending, reverse=True)
    assert volume_names(browser) != before or len(set(before)) == 1
    browser.find_element(By.XPATH, "//table[@id='volumes']//th[.='volume']").click()
    assert volume_names(browser) == sorted(volume_names(browser))

    # the slice viewer: zero-filled | CS | U-Net | target and three error maps, same slice
    images, metrics, label = shown_slice(browser)
    assert len(images) == 7 and all(src.startswith("data:image/png;base64,") for src in images)
    assert [row.split()[0] for row in metrics] == ["zero-filled", "CS", "U-Net"]
    slider = browser.find_element(By.ID, "slider")
    slider.send_keys(Keys.HOME)  # the first slice, through the slider's own input events
    first = shown_slice(browser)
    assert first[2].startswith("slice 0 ")
    slider.send_keys(Keys.END)
    last = shown_slice(browser)
    assert last[2].startswith("slice 2 ")
    assert last[0] != first[0] and last[1] != first[1]
    screenshot(browser, tmp_path / "checkpoint_report.png")
    assert console_errors(browser) == []


@pytest.mark.slow
def test_folders_report_in_the_browser(browser, folders_report: Path, tmp_path: Path) -> None:
    report = open_report(browser, folders_report)
    assert console_errors(browser) == []
    assert summary_cells(browser) == expected_summary(report)
    names = [volume["fname"] for volume in report["volumes"]]
    assert sorted(volume_names(browser)) == sorted(names)
    info = browser.find_element(By.ID, "provenance").text
    assert str(folders_report.parent / "predictions") in info
    images, metrics, label = shown_slice(browser)
    assert images and metrics
    slider = browser.find_element(By.ID, "slider")
    slider.send_keys(Keys.HOME)
    first = shown_slice(browser)
    slider.send_keys(Keys.END)
    assert shown_slice(browser)[0] != first[0]
    screenshot(browser, tmp_path / "folders_report.png")
    assert console_errors(browser) == []


def test_html_report_goes_beside_output_unless_no_html(
    folders_report: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    truth = small_multicoil / "multicoil_test_truth"
    predictions = folders_report.parent / "predictions"
    args = ("evaluate", "--target-path", truth, "--predictions-path", predictions)
    code, _, err = run_main(capsys, *args, "--html")
    assert code == 2 and "html: the HTML report goes beside --output's report" in err
    code, _, _ = run_main(capsys, *args, "--output", tmp_path / "r.json", "--no-html")
    assert code == 0 and (tmp_path / "r.json").is_file() and not (tmp_path / "r.html").exists()
