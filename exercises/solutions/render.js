// Exercise 5, a reference solution: a message as an <li>, its sender and text set as text.

function renderMessage(from, text) {
  const item = document.createElement("li");
  const who = document.createElement("span");
  who.className = "from";
  who.textContent = from + ":"; // textContent is never parsed as HTML
  item.append(who, document.createTextNode(text));
  return item;
}
