/* Sincro — assistente virtual (widget de atendimento).
 * One tag: <script src="https://sincro.example/assistant/widget.js" data-site-key="pk_…" async></script>
 * No framework, no third-party requests: talks only to the Sincro that served this file.
 * The conversation id and token live in sessionStorage (this tab only). */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-site-key]");
  if (!script || window.__sincroAssistant) return;
  window.__sincroAssistant = true;
  var siteKey = script.getAttribute("data-site-key") || "";
  var base = new URL(script.src, document.baseURI).origin;
  var api = base + "/v1/assistant/public/conversations";
  var storeKey = "sincro-assistant:" + siteKey;
  var MAX_CHARS = 1000;
  var WAITING = { waiting_agent: true, agent: true };

  var stored = load();
  var shown = {}; // seq -> true: messages already on screen
  var cursor = stored ? stored.lastSeq || 0 : 0;
  var polling = false;
  var busy = false;
  var place = { position: 0, estimate: 0 }; // the queue line on screen (0: none)

  // --- elements ------------------------------------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) node.textContent = text;
    return node;
  }

  var css = el("link", { rel: "stylesheet", href: base + "/assistant/widget.css" });
  document.head.appendChild(css);

  var root = el("div", { class: "sincro-aw", id: "sincro-assistant", lang: "pt-BR" });
  var launcher = el("button", {
    type: "button", class: "sincro-aw-launcher", "aria-expanded": "false",
    "aria-controls": "sincro-aw-panel"
  }, "Atendimento");
  var panel = el("section", {
    id: "sincro-aw-panel", class: "sincro-aw-panel", role: "dialog",
    "aria-labelledby": "sincro-aw-title", hidden: ""
  });
  var header = el("div", { class: "sincro-aw-header" });
  var title = el("h2", { id: "sincro-aw-title", class: "sincro-aw-title" }, "Assistente virtual");
  var close = el("button", {
    type: "button", class: "sincro-aw-close", "aria-label": "Fechar atendimento"
  }, "×");
  header.appendChild(title);
  header.appendChild(close);
  var log = el("ol", {
    class: "sincro-aw-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": "Mensagens da conversa", tabindex: "0"
  });
  var queueLine = el("p", { class: "sincro-aw-queue", role: "status", "aria-live": "polite", hidden: "" });
  var status = el("p", { class: "sincro-aw-status", role: "status", "aria-live": "polite" });
  var form = el("form", { class: "sincro-aw-form", novalidate: "" });
  var label = el("label", { for: "sincro-aw-input", class: "sincro-aw-label" }, "Sua mensagem");
  var input = el("textarea", {
    id: "sincro-aw-input", name: "text", rows: "2", maxlength: String(MAX_CHARS),
    autocomplete: "off", "aria-describedby": "sincro-aw-hint"
  });
  var hint = el("span", { id: "sincro-aw-hint", class: "sincro-aw-hint" },
    "Enter envia; Shift+Enter quebra a linha.");
  var send = el("button", { type: "submit", class: "sincro-aw-send" }, "Enviar");
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(hint);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(queueLine);
  panel.appendChild(status);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);
  (document.body || document.documentElement).appendChild(root);

  // --- storage and HTTP ----------------------------------------------------------------
  function load() {
    try { return JSON.parse(window.sessionStorage.getItem(storeKey) || "null"); }
    catch (e) { return null; }
  }
  function save() {
    try {
      if (stored) { stored.lastSeq = cursor; window.sessionStorage.setItem(storeKey, JSON.stringify(stored)); }
      else window.sessionStorage.removeItem(storeKey);
    } catch (e) { /* private mode: the conversation lasts this page only */ }
  }
  function call(method, url, body, headers) {
    var options = { method: method, headers: headers || {}, credentials: "omit", mode: "cors" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data, retry: response.headers.get("Retry-After") };
      });
    });
  }
  function auth() { return { Authorization: "Bearer " + stored.token }; }

  // --- rendering -----------------------------------------------------------------------
  var SENDER = { customer: "Você", bot: "Assistente", agent: "Atendente", system: "Aviso" };

  function bubble(sender, text, actions) {
    var item = el("li", { class: "sincro-aw-msg sincro-aw-" + sender });
    var who = el("span", { class: "sincro-aw-who" }, SENDER[sender] || "Aviso");
    item.appendChild(who);
    if (text) item.appendChild(el("p", { class: "sincro-aw-text" }, text));
    (actions || []).forEach(function (action) {
      var node = renderAction(action);
      if (node) item.appendChild(node);
    });
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function safeUrl(value) {
    if (typeof value !== "string") return null;
    try {
      var url = new URL(value, base);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) { return null; }
  }
  function link(href, text) {
    var url = safeUrl(href);
    if (!url) return null;
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "sincro-aw-link" }, text);
  }
  function number(value) {
    return typeof value === "number" ? value.toLocaleString("pt-BR") : null;
  }

  function renderAction(action) {
    var data = action && typeof action.data === "object" && action.data ? action.data : {};
    switch (action && action.type) {
      case "show_stores": {
        var stores = Array.isArray(data.stores) ? data.stores : [];
        if (!stores.length) return null;
        var list = el("ul", { class: "sincro-aw-stores", "aria-label": "Lojas" });
        stores.slice(0, 10).forEach(function (store) {
          var parts = [store.name || store.code || "Loja"];
          if (store.city) parts.push(store.city);
          if (number(store.available) !== null) parts.push(number(store.available) + " disponíveis");
          if (number(store.distance_km) !== null) parts.push(number(store.distance_km) + " km");
          list.appendChild(el("li", {}, parts.join(" · ")));
        });
        return list;
      }
      case "show_document":
      case "document":
        return link(data.url, data.title ? "Abrir documento: " + data.title : "Abrir documento");
      case "send_invoice":
        return link(data.url || data.invoice_url, "Baixar a 2ª via da fatura");
      case "handoff": {
        var text = "Você será atendido por uma pessoa da nossa equipe.";
        if (typeof data.position === "number") text += " Posição na fila: " + data.position + ".";
        return el("p", { class: "sincro-aw-notice" }, text);
      }
      default:
        return data.url ? link(data.url, data.title || "Abrir link") : null;
    }
  }

  function showMessages(messages) {
    messages.forEach(function (message) {
      cursor = Math.max(cursor, message.seq);
      if (shown[message.seq] || message.sender === "customer" && stored.live) return;
      shown[message.seq] = true;
      bubble(message.sender, message.text, message.actions);
    });
    save();
  }

  function say(text) { status.textContent = text; }

  // while waiting for a person: "Você é o 2º da fila · espera estimada de 3 min", kept live
  function showPlace(data) {
    var position = data && typeof data.position === "number" ? data.position : 0;
    var estimate = data && typeof data.estimated_wait_minutes === "number" ? data.estimated_wait_minutes : 0;
    place = { position: position, estimate: estimate };
    if (!position) { queueLine.hidden = true; queueLine.textContent = ""; return; }
    var text = "Você é o " + position + "º da fila";
    if (estimate) text += " · espera estimada de " + estimate + " min";
    queueLine.textContent = text;
    queueLine.hidden = false;
  }

  // --- the conversation ----------------------------------------------------------------
  function start() {
    return call("POST", api, undefined, { "X-Site-Key": siteKey }).then(function (r) {
      if (r.status !== 201) throw r;
      stored = { id: r.data.id, token: r.data.token, lastSeq: 0, live: true };
      cursor = 0;
      save();
    });
  }

  function explain(r) {
    if (r && r.status === 429) {
      return "Muitas mensagens em pouco tempo. Tente de novo em " + (r.retry || "alguns") + " segundos.";
    }
    if (r && r.status === 422) return "Não consegui enviar essa mensagem. Revise o texto e tente de novo.";
    if (r && r.status === 409) return "Não foi possível continuar esta conversa. Recarregue a página para começar outra.";
    return "Não foi possível falar com o atendimento agora. Tente de novo em instantes.";
  }

  function sendText(text) {
    busy = true;
    send.disabled = true;
    say("Enviando…");
    function post() {
      var ready = stored ? Promise.resolve() : start();
      return ready.then(function () {
        return call("POST", api + "/" + stored.id + "/messages", { text: text }, auth());
      });
    }
    post().then(function (r) {
      // closed by an agent, or at its message limit: the text opens a new conversation
      if (r.status === 409) { stored = null; save(); return post(); }
      return r;
    }).then(function (r) {
      if (r.status === 404) { stored = null; save(); throw r; }
      if (r.status !== 200) throw r;
      var reply = r.data;
      shown[reply.seq] = true;
      for (var seq = reply.seq + 1; seq <= reply.last_seq; seq++) shown[seq] = true;
      cursor = Math.max(cursor, reply.last_seq);
      save();
      if (reply.reply) bubble("bot", reply.reply, reply.actions);
      say("");
      follow(reply.state);
    }).catch(function (r) {
      say(explain(r));
    }).then(function () {
      busy = false;
      send.disabled = false;
    });
  }

  function follow(state) {
    if (!WAITING[state] || polling || !stored) return;
    polling = true;
    (function poll() {
      if (!stored) { polling = false; return; }
      var query = "?after=" + cursor + "&wait=20&position=" + place.position + "&estimate=" + place.estimate;
      call("GET", api + "/" + stored.id + "/messages" + query, undefined, auth())
        .then(function (r) {
          if (r.status === 404) { stored = null; save(); showPlace(null); polling = false; return; }
          if (r.status !== 200) throw r;
          showMessages(r.data.messages || []);
          showPlace(r.data);
          if (WAITING[r.data.state]) setTimeout(poll, 250);
          else polling = false;
        })
        .catch(function (r) {
          var wait = r && r.retry ? Number(r.retry) * 1000 : 5000;
          setTimeout(poll, Math.min(Math.max(wait, 1000), 60000));
        });
    })();
  }

  function restore() {
    if (!stored) return;
    stored.live = false; // a restored chat shows the customer's own lines from the server
    call("GET", api + "/" + stored.id + "/messages?after=0", undefined, auth()).then(function (r) {
      if (r.status !== 200) { stored = null; save(); return; }
      showMessages(r.data.messages || []);
      showPlace(r.data);
      stored.live = true;
      save();
      follow(r.data.state);
    }).catch(function () { /* offline: the next message tries again */ });
  }

  // --- opening, closing, keyboard ------------------------------------------------------
  var greeted = false;
  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    root.classList.add("sincro-aw-open");
    if (!greeted) {
      greeted = true;
      bubble("bot", "Olá! Sou o assistente virtual. Como posso ajudar?", []);
      restore();
    }
    input.focus();
  }
  function shut() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    root.classList.remove("sincro-aw-open");
    launcher.focus();
  }

  launcher.addEventListener("click", function () { panel.hidden ? open() : shut(); });
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); shut(); }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit"));
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "").trim();
    if (!text || busy) return;
    if (text.length > MAX_CHARS) { say("A mensagem pode ter até " + MAX_CHARS + " caracteres."); return; }
    input.value = "";
    bubble("customer", text, []);
    sendText(text);
  });
})();
