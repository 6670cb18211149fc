/*
 * Sortable tables, no dependencies. A table marked `data-sortable` gets its header
 * buttons (`button.sort-button` with `data-sort-type` number | text) wired up: the first
 * press sorts by that column (numbers high to low, text A to Z; rank low to high), the
 * next press reverses. Cells may carry `data-sort-value`; empty values always sort last.
 * The sorted column's <th> gets `aria-sort`, so screen readers announce the order.
 */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var value = cell.getAttribute("data-sort-value");
    return value !== null ? value : cell.textContent.trim();
  }

  function compare(a, b, type) {
    if (type === "number") return parseFloat(a) - parseFloat(b);
    return a.localeCompare(b, undefined, { sensitivity: "base", numeric: true });
  }

  function sortBy(table, th, index, type, direction) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (row, position) { row._position = position; });
    rows.sort(function (x, y) {
      var a = cellValue(x, index), b = cellValue(y, index);
      if (a === "" && b === "") return x._position - y._position;
      if (a === "") return 1;
      if (b === "") return -1;
      var order = compare(a, b, type);
      if (order === 0 || isNaN(order)) return x._position - y._position;
      return direction === "ascending" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", direction);
  }

  function setUp(table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      var button = th.querySelector("button.sort-button");
      if (!button) return;
      button.addEventListener("click", function () {
        var type = button.getAttribute("data-sort-type") || "text";
        var current = th.getAttribute("aria-sort");
        var first = (type === "number" && index !== 0) ? "descending" : "ascending";
        var direction = current === null ? first
          : (current === "ascending" ? "descending" : "ascending");
        sortBy(table, th, index, type, direction);
      });
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table[data-sortable]"), setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
