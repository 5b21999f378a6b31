"""Check for exercise 5:  pytest exercises/test_render.py

Loads your exercises/render.js into a blank page in headless Chromium, calls renderMessage,
puts the <li> it returns in the page, and looks at what the browser made of it.
"""

import pytest
from chat_process import CHROMIUM, CHROMIUM_MISSING, ROOT, launch_chromium

if not CHROMIUM.exists():
    pytest.skip(CHROMIUM_MISSING, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

BLANK_PAGE = "<!DOCTYPE html><html><body><ul id='messages'></ul></body></html>"

# Calls renderMessage, shows the result, and reports what the page now holds.
RENDER = """async ([from, text]) => {
  let item;
  try {
    item = renderMessage(from, text);
  } catch (error) {
    return {error: String(error && error.message || error)};
  }
  if (!(item instanceof Element)) return {notAnElement: String(item)};
  document.getElementById("messages").append(item);
  // A broken image of our own: once its error event has fired, so would one in the message.
  await new Promise((done) => {
    const probe = new Image();
    probe.onerror = done;
    probe.src = "x";
  });
  await new Promise((done) => setTimeout(done, 50));
  return {
    tag: item.tagName.toLowerCase(),
    text: item.textContent,
    inside: [...item.querySelectorAll("*")].map((element) => element.tagName.toLowerCase()),
    ran: window.ran === true,
  };
}"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)  # as the page's tests do
        yield browser
        browser.close()


@pytest.fixture
def render(browser, exercise_file):
    """render(from, text): what renderMessage(from, text) shows in a fresh blank page."""
    path = exercise_file("render.js")
    where = path.relative_to(ROOT).as_posix()  # exercises/render.js
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_content(BLANK_PAGE)
    page.add_script_tag(content=path.read_text(encoding="utf-8"))
    if not page.evaluate("typeof renderMessage === 'function'"):
        problems = f" (the browser says: {'; '.join(errors)})" if errors else ""
        pytest.fail(f"{where} does not define function renderMessage{problems}", pytrace=False)

    def call(sender, text):
        shown_item = page.evaluate(RENDER, [sender, text])
        if "not written yet" in shown_item.get("error", ""):
            pytest.fail(
                f"{where}: renderMessage is not written yet — see the hint in its comment "
                "at the top",
                pytrace=False,
            )
        assert "error" not in shown_item, f"renderMessage threw an error: {shown_item['error']}"
        assert "notAnElement" not in shown_item, (
            "return the <li> element itself (document.createElement('li')), "
            f"not {shown_item['notAnElement']!r}"
        )
        assert shown_item["tag"] == "li", f"return an <li> element, not a <{shown_item['tag']}>"
        return shown_item

    yield call
    page.close()


def test_a_plain_message(render):
    item = render("alice", "hi there")
    assert "alice" in item["text"] and "hi there" in item["text"], (
        f"the <li> should show the sender and the text; it shows {item['text']!r}"
    )
    assert item["text"].index("alice") < item["text"].index("hi there"), "sender first, then text"


def test_html_in_the_sender_is_text(render):
    item = render("<b>x</b>", "hi")
    assert "b" not in item["inside"], "the name <b>x</b> became a bold element: set it as text"
    assert "<b>x</b>" in item["text"], f"the page should show '<b>x</b>' as typed: {item['text']!r}"


def test_html_in_the_text_is_text_and_does_not_run(render):
    attack = '<img src=x onerror="window.ran = true">'
    item = render("mallory", attack)
    assert not item["ran"], (
        "the message's onerror script ran in the reader's page: use textContent, not innerHTML"
    )
    assert "img" not in item["inside"], "the message became an <img> element: set it as text"
    assert attack in item["text"], f"the page should show the message as typed: {item['text']!r}"


def test_a_script_tag_is_text(render):
    attack = "<script>window.ran = true</script>"
    item = render("mallory", attack)
    assert "script" not in item["inside"], "the message became a <script> element: set it as text"
    assert attack in item["text"], f"the page should show the message as typed: {item['text']!r}"
    assert not item["ran"], "a script in the message ran"
