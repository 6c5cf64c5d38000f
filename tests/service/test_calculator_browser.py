"""The calculator page in a real headless Chromium (Debian's chromium and chromium-driver).

``make test`` installs them when missing; without them this test fails (it must run
in CI, never skip). Set ``COVID_RISK_SCREENSHOT=path.png`` to keep a screenshot of the
filled page (the README's picture is made that way).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

import covid_risk

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1500")


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are needed: run 'make test' (it installs "
                    "them) or apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="calc-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _fill(driver, values: dict) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        el = driver.find_element(By.ID, f"f-{name}")
        if el.tag_name == "select":
            Select(el).select_by_value(str(value))
        elif el.get_attribute("type") == "checkbox":
            if bool(value) != el.is_selected():
                el.send_keys(" ")  # the keyboard toggles a checkbox
        else:
            el.clear()
            el.send_keys(str(value))


def _wait(driver, css: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


PAGE_PATIENT = {"age": 78, "sex": "male", "respiratory_rate": 28, "spo2": 90, "urea": 11.2,
                "crp": 140, "heart_rate": 104, "temperature": 100.4, "chronic_kidney": True,
                "diabetes": True, "on_oxygen": "true"}


def test_fill_submit_and_read_the_numbers(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(live_server + "/")
    _wait(browser, "#f-age")
    _fill(browser, PAGE_PATIENT)
    Select(browser.find_element(By.ID, "u-temperature")).select_by_value("°F")
    browser.find_element(By.ID, "f-crp").send_keys(Keys.ENTER)  # submit from the keyboard
    _wait(browser, "#results[data-ready=true]")

    record = {k: (v == "true" if v in ("true", "false") else v) for k, v in PAGE_PATIENT.items()}
    record.update({f.name: record.get(f.name, False) for f in covid_risk.FIELDS.values()
                   if f.group == "comorbidity"})
    data = covid_risk.validate(record, units={"temperature": "°F"}).data
    record["temperature"] = float(data.loc[0, "temperature"])
    want = covid_risk.predict_risk(record)
    sections = browser.find_elements(By.CSS_SELECTOR, "#results section[data-outcome]")
    shown = {s.get_attribute("data-outcome"): float(s.get_attribute("data-probability"))
             for s in sections}
    assert shown == want.probabilities
    for s in sections:
        risk = want[s.get_attribute("data-outcome")]
        assert f"{100 * risk.probability:.1f}%" in s.text and risk.band in s.text
        bars = s.find_elements(By.CSS_SELECTOR, ".f[data-feature]")
        assert [b.get_attribute("data-feature") for b in bars] == [
            f.feature for f in (*risk.raising, *risk.lowering)]
    shot = os.environ.get("COVID_RISK_SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)
    assert browser.get_screenshot_as_png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_impossible_value_shows_next_to_its_field(browser, live_server):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    _wait(browser, "#f-age")
    _fill(browser, {"age": 70, "sex": "female", "spo2": 150, "urea": 5})
    browser.find_element(By.ID, "predict").click()
    _wait(browser, "#results[data-error=true]")
    error = browser.find_element(By.ID, "err-spo2").text
    assert "spo2" in error and "between 20 and 100" in error
    assert browser.find_element(By.ID, "f-spo2").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "err-urea").text == ""
    assert browser.switch_to.active_element.get_attribute("id") == "f-spo2"


def test_page_is_self_contained(client):
    page = client.get("/").text
    for external in ("http://", "https://", "//cdn", "@import", "fonts.g"):
        assert external not in page.replace('xmlns="http://www.w3.org', "")


def test_screenshot_in_docs_is_a_png():
    path = Path(__file__).resolve().parents[2] / "docs" / "calculator.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cds_link_fragment_fills_the_form_and_tab_moves_on(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(live_server + "/#setting=admission&age=71&sex=female&urea=9.5&diabetes=True")
    _wait(browser, "#f-age")
    assert browser.find_element(By.ID, "f-age").get_attribute("value") == "71"
    assert browser.find_element(By.ID, "f-sex").get_attribute("value") == "female"
    assert browser.find_element(By.ID, "f-diabetes").is_selected()
    browser.find_element(By.ID, "f-age").click()
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "f-sex"
