// The operator's alert queue: each alert of the deployment arrives by Server-Sent Events.
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  if (!queue) { return; }
  var csrf = queue.dataset.csrf;
  function field(form, tag, attrs) {
    var element = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { element.setAttribute(k, attrs[k]); });
    form.appendChild(element);
    return element;
  }
  function select(form, name, options) {
    var element = field(form, "select", { name: name });
    options.forEach(function (o) {
      var option = document.createElement("option");
      option.value = o[0]; option.textContent = o[1]; element.appendChild(option);
    });
  }
  function render(alert) {
    if (document.getElementById("alert-" + alert.alert_id)) { return; }
    var article = document.createElement("article");
    article.className = "alert";
    article.id = "alert-" + alert.alert_id;
    article.dataset.alert = alert.alert_id;
    article.dataset.shownAt = String(Date.now() / 1000);
    var image = document.createElement("img");
    image.src = "/alerts/" + alert.alert_id + "/image";
    image.alt = "live crop beside watchlist image";
    image.height = 160;
    article.appendChild(image);
    var text = document.createElement("p");
    var subject = document.createElement("span");
    subject.className = "subject";
    subject.textContent = alert.subject;  // text, never HTML
    text.appendChild(subject);
    text.appendChild(document.createTextNode(
      " score " + alert.score.toFixed(3) + " vs threshold " + alert.threshold.toFixed(3) +
      " at " + alert.time_s.toFixed(1) + " s"));
    article.appendChild(text);
    var reason = document.createElement("p");
    reason.className = "reason";
    reason.appendChild(document.createTextNode("on the watchlist for: "));
    var why = document.createElement("span");
    why.className = "why";
    why.textContent = alert.reason || "(no reason held: the entry was erased)";  // text, never HTML
    reason.appendChild(why);
    article.appendChild(reason);
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/alerts/" + alert.alert_id + "/decide";
    field(form, "input", { type: "hidden", name: "csrf", value: csrf });
    select(form, "outcome", [["confirmed", "confirm"], ["rejected", "reject"], ["no-action", "no action"]]);
    field(form, "input", { name: "note", placeholder: "what you compared", required: "" });
    select(form, "engagement", [["", "engagement?"], ["yes", "engaged"], ["no", "not engaged"]]);
    field(form, "input", { name: "result", placeholder: "outcome of engagement" });
    var button = document.createElement("button");
    button.textContent = "Decide";
    form.appendChild(button);
    article.appendChild(form);
    queue.insertBefore(article, queue.firstChild);
    var count = document.getElementById("alert-count");
    if (count) { count.textContent = String(queue.querySelectorAll(".alert").length); }
  }
  var source = new EventSource(queue.dataset.stream);
  source.addEventListener("ready", function () { queue.dataset.ready = "1"; });
  source.addEventListener("alert", function (event) { render(JSON.parse(event.data)); });
  source.addEventListener("ended", function () {
    var running = document.getElementById("running");
    if (running) { running.textContent = "False"; }
  });
})();
