"""The leaderboard's pages in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium): register, get approved, log in, reveal, submit a file, see the row; and the
static annotation page of ``underspec label export``.

Skipped when the browser is not installed, unless ``UNDERSPEC_REQUIRE_BROWSER=1`` (``.ci/run``
installs it and sets this, so that there the test cannot silently skip).
"""

from __future__ import annotations

import numpy as np

from tests.browser_fixtures import loaded, settle
from tests.server_fixtures import PASSWORD
from underspec.cli import main


def fill_and_send(driver, form_id: str, **fields) -> None:
    """Fill a form, send it, and wait until the browser has left the page and loaded the next."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    loaded(driver)
    form = driver.find_element(By.ID, form_id)
    for name, value in fields.items():
        field = form.find_element(By.NAME, name)
        if value is True:  # a checkbox to tick
            field.click()
        else:
            field.send_keys(str(value))
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
    fill_and_send(browser, "submit-form", file=predictions, confirm=True)
    assert "Live accuracy: 1.0000" in browser.find_element(By.ID, "submitted").text

    browser.get(live + "/")
    rows = {r.find_elements(By.TAG_NAME, "td")[1].text: r
            for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")}
    assert set(rows) == {"alpha (no submission yet)", "omega"}  # marked, listed after equal totals
    omega = [td.text for td in rows["omega"].find_elements(By.TAG_NAME, "td")]
    assert omega[0] == "1" and omega[2] == "1.0000"  # ranked first, scored, not the default
    assert "(default)" in rows["alpha (no submission yet)"].text


def test_the_annotation_page_writes_answers_that_aggregate_reads(browser, tmp_path):
    import pandas as pd
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from underspec.labeling.export import ExportOptions, build_pools, page_tasks
    from underspec.report.pages import labeling_page

    known = pd.Series(["cat", "dog"] * 3, index=[f"k{i}" for i in range(6)])
    pool = build_pools(["a", "b", "c"], known, ExportOptions(page_size=3, training=2, exam=2, seed=1))
    images = {t: "missing.png" for t in pool["task"]}
    (tmp_path / "tasks.html").write_text(labeling_page(page_tasks(pool, images), ["cat", "dog"]))
    browser.get((tmp_path / "tasks.html").as_uri())
    loaded(browser)
    browser.find_element(By.ID, "worker").send_keys("ann, the first")  # a comma: the CSV must quote it
    production = pool[pool["pool"] == "production"]
    for page in sorted(production["page"].unique()):
        assert browser.find_element(By.ID, "progress").text == f"Page {page + 1} of 2"
        for figure in browser.find_elements(By.CSS_SELECTOR, "#grid figure"):
            task = figure.get_attribute("data-task")
            Select(figure.find_element(By.TAG_NAME, "select")).select_by_value(known.get(task, "dog"))
        browser.find_element(By.ID, "next").click()
    assert "All pages done" in browser.find_element(By.ID, "progress").text
    (tmp_path / "answers.csv").write_text(browser.find_element(By.ID, "csv").get_attribute("value"))
    answers = pd.read_csv(tmp_path / "answers.csv")
    assert sorted(answers["task"]) == sorted(production["task"]) and (answers["worker"] == "ann, the first").all()
    gold = production[production["golden"] != ""][["task", "golden"]].rename(columns={"golden": "label"})
    gold.to_csv(tmp_path / "gold.csv", index=False)
    assert main(["label", "aggregate", str(tmp_path / "answers.csv"), "--gold", str(tmp_path / "gold.csv"),
                 "--out", str(tmp_path / "labels.csv")]) == 0
    labels = pd.read_csv(tmp_path / "labels.csv").set_index("task")["label"]
    assert (labels.loc[["a", "b", "c"]] == "dog").all()


def test_the_api_docs_render_offline_under_the_pages_security_policy(browser, live):
    from selenium.webdriver.common.by import By

    browser.get(live + "/docs")
    settle(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/reveal/", "/submit/", "/leaderboard.json"} <= paths
    assert not browser.find_elements(By.CSS_SELECTOR, ".errors-wrapper")

