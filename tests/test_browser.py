"""The leaderboard's pages in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium): register, get approved, log in, reveal, submit a file, see the row.

Skipped when the browser is not installed, unless ``UNDERSPEC_REQUIRE_BROWSER=1`` (``.ci/run``
installs it and sets this, so that there the test cannot silently skip).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from tests.server_fixtures import PASSWORD
from underspec.cli import main

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


def fill_and_send(driver, form_id: str, **fields) -> None:
    """Fill a form, send it, and wait until the browser has left the page and loaded the next."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    loaded(driver)
    form = driver.find_element(By.ID, form_id)
    for name, value in fields.items():
        form.find_element(By.NAME, name).send_keys(str(value))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    settle(driver).until(expected_conditions.staleness_of(form))
    loaded(driver)


def test_register_approve_submit_and_see_the_row(browser, live, board, tiny_task_dir, tmp_path):
    from selenium.webdriver.common.by import By

    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    browser.get(live + "/")
    browser.find_element(By.ID, "register").click()
    settle(browser).until(lambda d: d.current_url.endswith("/account/register"))
    fill_and_send(browser, "register-form", username="omega", password=PASSWORD)
    assert "must approve" in browser.find_element(By.ID, "notice").text
    assert main(["admin", "--db", board, "approve", "omega"]) == 0

    browser.get(live + "/account/login")
    fill_and_send(browser, "login-form", username="omega", password=PASSWORD)
    assert browser.current_url == live + "/account/"
    assert "Approved" in browser.find_element(By.ID, "status").text

    browser.get(live + "/exercises/1/")
    fill_and_send(browser, "reveal-form", datum_id=2)
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#revealed td")]
    assert cells == ["2", str(labels[2])]
    assert browser.find_element(By.ID, "left").text == "4"

    predictions = tmp_path / "predictions.csv"
    predictions.write_text("".join(f"{v}\n" for v in labels))
    fill_and_send(browser, "submit-form", file=predictions)
    assert "Live accuracy: 1.0000" in browser.find_element(By.ID, "submitted").text

    browser.get(live + "/")
    rows = {r.find_elements(By.TAG_NAME, "td")[1].text: r
            for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")}
    assert set(rows) == {"alpha", "omega"}
    omega = [td.text for td in rows["omega"].find_elements(By.TAG_NAME, "td")]
    assert omega[0] == "1" and omega[2] == "1.0000"  # ranked first, scored, not the default
    assert "(default)" in rows["alpha"].text
