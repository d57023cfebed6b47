/* Sincro console, Feed ao vivo: follow /console/feed/stream through live.js and put each
   availability change at the top of the table. */
(function () {
  "use strict";
  var table = document.getElementById("feed-table");
  var status = document.getElementById("feed-status");
  var rows = document.getElementById("feed-rows");
  var counter = document.getElementById("feed-count");
  if (!table || !status || !rows) {
    return;
  }
  var MAX_ROWS = 200;
  var CAUSES = {
    sale: "venda",
    receipt: "recebimento",
    transfer: "transferência",
    adjustment: "ajuste",
    correction: "correção",
    count: "contagem",
    opening: "saldo inicial",
    reservation: "reserva",
    release: "reserva liberada",
    expiry: "reserva expirada",
    commit: "reserva confirmada",
    block: "bloqueio",
    safety_stock: "estoque de segurança"
  };
  // Times are the location's own (data-zones: code -> IANA zone for those off Sao_Paulo).
  var DEFAULT_ZONE = "America/Sao_Paulo";
  var zones = {};
  try {
    zones = JSON.parse(table.dataset.zones || "{}") || {};
  } catch (e) {
    zones = {};
  }
  var formats = {};

  function formatsFor(location) {
    var zone = zones[location] || DEFAULT_ZONE;
    if (!formats[zone]) {
      formats[zone] = {
        hour: new Intl.DateTimeFormat("pt-BR", {
          timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit"
        }),
        full: new Intl.DateTimeFormat("pt-BR", {
          timeZone: zone, dateStyle: "short", timeStyle: "medium"
        }),
        zone: zone
      };
    }
    return formats[zone];
  }
  var numbers = new Intl.NumberFormat("pt-BR");
  var received = 0;

  function setStatus(state, text) {
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function pathFor(template, marker, value) {
    return template.replace(marker, encodeURIComponent(value).replace(/%2F/g, "/"));
  }

  function cell(content, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    if (content instanceof Node) {
      td.appendChild(content);
    } else {
      td.textContent = content;
    }
    return td;
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.className = "mono";
    a.textContent = text;
    return a;
  }

  function addRow(event) {
    var placeholder = rows.querySelector(".placeholder");
    if (placeholder) {
      placeholder.remove();
    }
    var at = new Date(event.at);
    var tr = document.createElement("tr");
    tr.className = "fresh";
    tr.setAttribute("data-seq", event.seq);
    var local = formatsFor(event.location);
    var time = cell(local.hour.format(at), "nowrap");
    time.title = local.full.format(at) + " (" + local.zone + ")";
    tr.appendChild(time);
    tr.appendChild(cell(link(pathFor(table.dataset.skuUrl, "__SKU__", event.sku), event.sku)));
    tr.appendChild(cell(link(pathFor(table.dataset.locationUrl, "__CODE__", event.location),
      event.location)));
    tr.appendChild(cell(numbers.format(event.available), "num" + (event.available > 0 ? "" : " zero")));
    tr.appendChild(cell(numbers.format(event.on_hand), "num"));
    tr.appendChild(cell(numbers.format(event.reserved), "num"));
    tr.appendChild(cell(CAUSES[event.cause] || event.cause));
    rows.insertBefore(tr, rows.firstChild);
    while (rows.children.length > MAX_ROWS) {
      rows.removeChild(rows.lastChild);
    }
    received += 1;
    if (counter) {
      counter.textContent = numbers.format(received);
    }
  }

  if (!window.SincroLive) {
    setStatus("closed", "Desconectado");
    return;
  }
  window.SincroLive.follow(table.dataset.stream, {
    status: status,
    events: { availability: addRow }
  });
})();
