"""A real browser (Debian's headless Chromium) logs into the admin: the dashboard, the search box and
the customer page, a 403 inside the admin chrome (screenshots in artifacts/)."""

import shutil
import time
from pathlib import Path

import pytest
from django.urls import reverse
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.test_customer_page import SECTIONS, customer_with_history

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)


# A loaded machine answers a form post in seconds, not milliseconds: every click that leaves the
# page waits until the old page is gone, so no assertion reads the page it came from (or none).
PAGE_WAIT_SECONDS = 60


def _replaced(old_page):
    """`expected_conditions.staleness_of`, also when Chrome says it in other words: during
    the navigation it may answer "Node with given id does not belong to the document" (a
    generic WebDriverException) instead of a stale element reference."""

    def check(_driver) -> bool:
        try:
            old_page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in (exc.msg or ""):
                return True
            raise
        return False

    return check


def click_through(driver, element) -> None:
    """Click a link or submit button and wait until the next page has replaced this one."""
    old_page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, PAGE_WAIT_SECONDS).until(_replaced(old_page))
    WebDriverWait(driver, PAGE_WAIT_SECONDS).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.mark.slow
@needs_chromium
# Transactional (the live server reads from another connection); the energy packs and plans
# it needs are re-seeded for transactional tests by the root conftest.
@pytest.mark.django_db(transaction=True)
def test_admin_dashboard_renders_charts_in_chromium(live_server, browser, dashboard_data):

    staff = UserFactory(email="operator@example.com", is_staff=True, is_superuser=True)
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(staff.email)
    browser.find_element(By.NAME, "password").send_keys(DEFAULT_PASSWORD)
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        canvases = browser.find_elements(By.CSS_SELECTOR, "canvas[data-phoenix-chart]")
        if canvases and all(c.get_attribute("data-rendered") == "true" for c in canvases):
            break
        time.sleep(0.2)
    for panel in ("platform", "wallet-health", "incidents", "energy", "money", "access", "pro"):
        assert browser.find_element(By.ID, f"panel-{panel}").is_displayed(), panel
    canvases = browser.find_elements(By.CSS_SELECTOR, "canvas[data-phoenix-chart]")
    assert {c.get_attribute("id") for c in canvases} == {
        "chart-balance-ops-per-hour", "chart-consumption-by-action", "chart-revenue-by-pack", "chart-access-types"}
    assert all(c.get_attribute("data-rendered") == "true" for c in canvases), "Chart.js did not draw every chart"
    # Chart.js drew: each canvas has a non-zero backing size and a Chart instance with data
    assert all(int(c.get_attribute("width")) > 0 and int(c.get_attribute("height")) > 0 for c in canvases)
    points = browser.execute_script(
        "return Array.from(document.querySelectorAll('canvas[data-phoenix-chart]'))"
        ".map(c => c.phoenixChart.data.datasets.reduce((n, d) => n + d.data.reduce((a, b) => a + b, 0), 0));")
    assert all(total > 0 for total in points), points
    stat = browser.find_element(By.CSS_SELECTOR, '[data-stat="consumed-today"]').text
    assert stat == str(dashboard_data.consumed)
    severe = [entry for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]
    assert severe == [], severe  # no script error, no missing static file

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "admin-dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000


# --- the search box and the customer page -------------------------------------------------------

SCREENSHOTS = ARTIFACTS / "screenshots"  # git-ignored; kept by CI with the checkout


def _login(browser, live_server, user) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(user.email)
    browser.find_element(By.NAME, "password").send_keys(DEFAULT_PASSWORD)
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))
    browser.find_element(By.ID, "site-name")  # logged in: the admin chrome


def _screenshot(request, browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    assert browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    # printed past pytest's capture, so a CI log names the file
    plugins = request.config.pluginmanager
    with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
        plugins.get_plugin("terminalreporter").write_line(f"screenshot: {path}")
    return path


@pytest.mark.slow
@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_search_by_email_opens_the_customer_page_with_every_section(request, live_server, browser):
    customer = customer_with_history(2)
    staff = UserFactory(email="operator@example.com", is_staff=True, is_superuser=True)
    _login(browser, live_server, staff)

    box = browser.find_element(By.ID, "phoenix-search-q")  # on the dashboard, as on every admin page
    box.send_keys(customer.email.upper())
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#phoenix-search button[type=submit]"))

    page = browser.find_element(By.ID, "phoenix-customer")
    assert browser.current_url == f"{live_server.url}{reverse('admin:customer', args=[customer.public_id])}"
    assert page.get_attribute("data-customer") == str(customer.public_id)
    for key in SECTIONS:
        assert browser.find_element(By.ID, f"section-{key}").is_displayed(), key
    holds = browser.find_element(By.ID, "section-holds")
    assert len(holds.find_elements(By.LINK_TEXT, "Release")) == 2
    assert customer.email in browser.find_element(By.ID, "section-identity").text
    severe = [entry for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]
    assert severe == [], severe
    _screenshot(request, browser, "customer-page.png")

    # "see all" of the operations opens the filtered list, inside the admin
    click_through(browser, browser.find_element(By.ID, "section-operations").find_element(By.CLASS_NAME, "see-all"))
    assert "wallet__id__exact" in browser.current_url
    assert browser.find_element(By.ID, "result_list").is_displayed()


@pytest.mark.slow
@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_an_admin_403_is_inside_the_admin_chrome(request, live_server, browser):
    customer = customer_with_history(1)
    no_role = UserFactory(email="newhire@example.com", is_staff=True)  # staff, no role yet
    _login(browser, live_server, no_role)
    browser.get(f"{live_server.url}{reverse('admin:customer', args=[customer.public_id])}")

    assert browser.find_element(By.ID, "site-name").text == "Phoenix back office"
    assert "Permission denied" in browser.find_element(By.ID, "content").text
    assert browser.find_element(By.ID, "phoenix-error").is_displayed()
    assert "permission_denied" not in browser.page_source  # not the API's JSON
    assert browser.find_elements(By.ID, "phoenix-search") == []  # no search box without the right to use it
    _screenshot(request, browser, "admin-403.png")
