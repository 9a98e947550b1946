"""A PNG of an HTML report as headless Chromium shows it (the README's picture).

    python scripts/screenshot_report.py demo_output/report.html docs/report.png [--width 1300]
        [--scale 0.6]

The whole page at ``--width`` CSS pixels, scaled by ``--scale`` and saved as an optimised PNG.
Needs Debian's chromium and chromium-driver (``make browser``) and selenium (the dev extra).
"""

import argparse
import io
import shutil
from pathlib import Path

from PIL import Image
from selenium import webdriver


def screenshot(report: Path, width: int) -> Image.Image:
    """The whole page of ``report`` at ``width`` pixels; fails on a console error."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_window_size(width, 1000)
        driver.get(report.resolve().as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, height + 160)  # + the window's frame
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            raise SystemExit(f"{report}: console errors: {errors}")
        return Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--width", type=int, default=1300)
    parser.add_argument("--scale", type=float, default=0.6)
    args = parser.parse_args()
    image = screenshot(args.report, args.width)
    size = (round(image.width * args.scale), round(image.height * args.scale))
    image.resize(size, Image.LANCZOS).quantize(colors=256).save(args.output, optimize=True)
    print(f"wrote {args.output} ({size[0]} x {size[1]})")


if __name__ == "__main__":
    main()
