/* Sincro console, live updates: one helper every page uses to follow a Server-Sent Events
   stream of the change feed. It shows the connection state in an element (data-state =
   open | connecting | closed, with pt-BR text), hands each event of the named types to the
   page as parsed JSON, ignores malformed events, and closes the stream when the page goes
   away. The browser reconnects by itself and resumes from the last event id it saw.

   SincroLive.follow(url, {status: element, events: {availability: function (data) {...}}}) */
(function () {
  "use strict";
  var TEXT = {
    open: "Conectado",
    connecting: "Reconectando…",
    closed: "Desconectado — recarregue a página",
    unsupported: "Navegador sem suporte a eventos ao vivo"
  };

  function show(element, state, text) {
    if (element) {
      element.setAttribute("data-state", state);
      element.textContent = text;
    }
  }

  function follow(url, options) {
    var status = options.status;
    if (!url) {
      show(status, "closed", "Desconectado");
      return null;
    }
    if (!window.EventSource) {
      show(status, "closed", TEXT.unsupported);
      return null;
    }
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      show(status, "open", TEXT.open);
    });
    source.addEventListener("error", function () {
      var closed = source.readyState === EventSource.CLOSED;
      show(status, closed ? "closed" : "connecting", closed ? TEXT.closed : TEXT.connecting);
    });
    Object.keys(options.events || {}).forEach(function (type) {
      source.addEventListener(type, function (message) {
        var data;
        try {
          data = JSON.parse(message.data);
        } catch (err) {
          return; /* a malformed event must not stop the stream */
        }
        options.events[type](data);
      });
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
    return source;
  }

  window.SincroLive = { follow: follow };
})();
