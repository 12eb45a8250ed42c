"""A headless Chromium for the web page tests (Debian ``chromium`` + ``chromium-driver``, driven
by Selenium). Skipped when the browser is not installed, unless ``UNDERSPEC_REQUIRE_BROWSER=1``
(``.ci/run`` installs it and sets this, so that there the tests cannot silently skip)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("UNDERSPEC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} missing; apt-get install chromium chromium-driver")
        pytest.skip("chromium and chromedriver not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def settle(driver):
    """A wait that retries through the transient errors ChromeDriver raises while one document
    replaces another ("Node with given id does not belong to the document")."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(driver, 10, ignored_exceptions=(WebDriverException,))


def loaded(driver) -> None:
    """Wait until the current page has finished loading."""
    settle(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
