// The lab form shows one empty row per list (indications, parts, guides,
// prints); the others wait behind an "Add" button, which shows the next
// one and puts the keyboard focus in it. Without scripts every row shows.
(function () {
  "use strict";
  document.querySelectorAll("fieldset[data-add]").forEach(function (section) {
    var spare = Array.prototype.slice.call(section.querySelectorAll(".group[data-spare]"));
    if (spare.length === 0) { return; }
    spare.forEach(function (g) { g.hidden = true; });
    var button = document.createElement("button");
    button.type = "button";
    button.className = "add-row";
    button.textContent = section.getAttribute("data-add");
    button.addEventListener("click", function () {
      var next = spare.shift();
      if (!next) { return; }
      next.hidden = false;
      var first = next.querySelector("input, select, textarea");
      if (first) { first.focus(); }
      if (spare.length === 0) { button.remove(); }
    });
    section.appendChild(button);
  });
})();
