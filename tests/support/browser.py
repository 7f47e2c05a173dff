"""A real headless Chromium for browser tests and the dApp benchmark: Debian's chromium and chromedriver
(nothing is downloaded), driven with Selenium, and always ended - chromedriver runs in its own process
group, which is killed whole on the way out, so no browser process outlives a test even if one hangs.

    with chromium(init_scripts=[source]) as browser:
        browser.get(url)
        wait_for(browser, lambda b: ..., what="the page is ready")
"""

import base64
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (375, 812)

# Quiet, self-contained and reproducible: no first-run UI, no background traffic, no shared state.
ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
             "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US")


def chromium_version() -> str:
    answer = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False)
    return answer.stdout.strip() or "unknown"


@contextmanager
def chromium(size: tuple[int, int] = DESKTOP, *, init_scripts: Sequence[str] = (),
             log_file: Path | None = None) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own empty profile) of `size`; each of `init_scripts` runs in every
    page before the page's own scripts (CDP Page.addScriptToEvaluateOnNewDocument)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} is missing: install Debian's chromium and chromium-driver "
                               f"(scripts/toolchain/install.sh installs them with the stack)")
    with tempfile.TemporaryDirectory(prefix="fitmint-chromium-") as profile:
        options = Options()
        options.binary_location = CHROMIUM
        for argument in ARGUMENTS:
            options.add_argument(argument)
        options.add_argument(f"--window-size={size[0]},{size[1]}")
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(CHROMEDRIVER, log_output=str(log_file) if log_file else subprocess.DEVNULL,
                          popen_kw={"start_new_session": True})
        driver = None
        try:
            driver = webdriver.Chrome(options=options, service=service)
            set_viewport(driver, size)
            for source in init_scripts:
                driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
            yield driver
        finally:
            try:
                if driver is not None:
                    driver.quit()
            finally:
                _kill_group(service)


def _kill_group(service: Service) -> None:
    """Whatever is left of chromedriver's process group (the browser and its helpers) is killed."""
    process = getattr(service, "process", None)
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def set_viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """The page's viewport exactly `size` CSS pixels (the window's own size includes no chrome headless,
    but this does not depend on that)."""
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def wait_for(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], object], *, what: str,
             timeout: float = 20) -> object:
    """Polls `condition(driver)` until truthy (returned); fails saying `what` never happened, with the
    page's status line and the browser console's errors."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=(WebDriverException,)).until(condition)
    except TimeoutException:
        raise AssertionError(f"{what}: not within {timeout} s. {page_state(driver)}") from None


def page_state(driver: webdriver.Chrome) -> str:
    """What the page said last and what went wrong in it, for failure messages."""
    try:
        status = driver.execute_script("return document.getElementById('status')?.textContent ?? ''")
        errors = [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
    except WebDriverException as exc:
        return f"(the page cannot be read: {exc.msg})"
    return f"Status line: {status!r}. Console errors: {errors[-5:]}"


def screenshot(driver: webdriver.Chrome, path: Path, max_height: int = 1800) -> None:
    """The page from its top as a PNG: beyond the viewport, down to `max_height` CSS pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    width, height = metrics["cssLayoutViewport"]["clientWidth"], metrics["cssContentSize"]["height"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, max_height), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


# In-page checks of what a keyboard or screen-reader user relies on, on the visible part of the page.
UNNAMED_CONTROLS = """
const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const named = (el) => {
  if ((el.getAttribute('aria-label') || '').trim()) return true;
  const by = el.getAttribute('aria-labelledby');
  if (by && by.split(/\\s+/).some((id) => (document.getElementById(id)?.textContent || '').trim())) return true;
  if (el.labels && [...el.labels].some((label) => label.textContent.trim())) return true;
  if (el.tagName === 'BUTTON' && el.textContent.trim()) return true;
  if (el.tagName === 'A' && el.textContent.trim()) return true;
  if (el.tagName === 'IMG') return el.hasAttribute('alt');
  return (el.getAttribute('title') || '').trim() !== '';
};
return [...document.querySelectorAll('input, select, textarea, button, a[href], img')]
  .filter((el) => visible(el) && !named(el))
  .map((el) => el.outerHTML.slice(0, 120));
"""

TOO_WIDE = """
const width = document.documentElement.clientWidth;
const wide = [...document.querySelectorAll('body *')]
  .filter((el) => el.getClientRects().length > 0 && el.getBoundingClientRect().right > width + 0.5)
  .map((el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className ? '.' + el.className : ''}`
       + ` right=${Math.round(el.getBoundingClientRect().right)}`);
return {viewport: width, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 10)};
"""


def unnamed_controls(driver: webdriver.Chrome) -> list[str]:
    """Visible inputs, selects, buttons, links and images without an accessible name."""
    return driver.execute_script(UNNAMED_CONTROLS)


def overflow(driver: webdriver.Chrome) -> dict:
    """The viewport's width, the page's scroll width and any visible element reaching past the viewport."""
    return driver.execute_script(TOO_WIDE)
