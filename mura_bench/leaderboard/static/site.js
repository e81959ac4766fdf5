/* Sortable tables and the metric switcher. Plain DOM, no dependencies, works from file://. */
(function () {
  "use strict";

  function cellValue(cell, kind, metric) {
    var raw = kind === "metric" ? cell.getAttribute("data-" + metric) : cell.getAttribute("data-v");
    if (raw === null || raw === "") { return null; }
    if (kind === "text") { return raw; }
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }

  function sortTable(table, th, direction) {
    var kind = th.getAttribute("data-sort");
    var metric = table.getAttribute("data-metric") || "";
    var column = th.cellIndex;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, index) {
      return { row: row, index: index, value: cellValue(row.cells[column], kind, metric) };
    });
    keyed.sort(function (a, b) {
      if (a.value === null && b.value === null) { return a.index - b.index; }
      if (a.value === null) { return 1; }
      if (b.value === null) { return -1; }
      var order = kind === "text" ? a.value.localeCompare(b.value) : a.value - b.value;
      if (order === 0) { return a.index - b.index; }
      return direction === "ascending" ? order : -order;
    });
    keyed.forEach(function (item) { body.appendChild(item.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      if (other !== th) { other.removeAttribute("aria-sort"); }
    });
    th.setAttribute("aria-sort", direction);
  }

  function initTable(table) {
    Array.prototype.forEach.call(table.querySelectorAll("thead th[data-sort]"), function (th) {
      var button = th.querySelector("button") || th;
      button.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var first = th.getAttribute("data-sort") === "metric" ? "descending" : "ascending";
        var next = current === null ? first : (current === "ascending" ? "descending" : "ascending");
        sortTable(table, th, next);
      });
    });
  }

  function initSwitch(group) {
    var table = document.getElementById(group.getAttribute("data-metric-switch"));
    if (!table) { return; }
    Array.prototype.forEach.call(group.querySelectorAll("button[data-metric]"), function (button) {
      button.addEventListener("click", function () {
        table.setAttribute("data-metric", button.getAttribute("data-metric"));
        Array.prototype.forEach.call(group.querySelectorAll("button"), function (other) {
          other.setAttribute("aria-pressed", other === button ? "true" : "false");
        });
        var sorted = table.querySelector("thead th[aria-sort][data-sort='metric']");
        if (sorted) { sortTable(table, sorted, sorted.getAttribute("aria-sort")); }
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), initTable);
  Array.prototype.forEach.call(document.querySelectorAll("[data-metric-switch]"), initSwitch);
}());
