// Exercise 5: show a message on the page, safely (lessons/05-page.md).
//
// Write renderMessage(from, text): return a new <li> element that shows who sent the message
// and what it says, e.g. "alice: hi". The page puts it in the list with id "messages".
//
// Why it matters: whatever anyone types reaches every page in the chat. If a message were
// rendered as HTML, the text <img src=x onerror=alert(1)> would run its script in every
// reader's tab, with their login (cross-site scripting). A message must always be shown as the
// characters it is made of, never parsed as HTML. index.html does this in fillChat().
//
// Check your answer with:  pytest exercises/test_render.py
//
// Hint: document.createElement("li") makes the item, and element.textContent = "..." (or
// document.createTextNode("...")) puts text in it. Never build it from strings with
// innerHTML. A <span> for the sender's name lets the page's style make it bold.

function renderMessage(from, text) {
  throw new Error("renderMessage is not written yet: build the <li> here.");
}
