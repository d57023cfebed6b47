/* Sincro console, Atendimento: the live queue of the inbox and the live transcript of one
   conversation, both through live.js (Server-Sent Events; the browser resumes from the last
   event id it saw), and the suggested replies that fill the answer box. Works only with the
   page's own data attributes; every text goes in as text, never as HTML. */
(function () {
  "use strict";
  /* times in the console's zone (data-zone of the page's table or transcript), dd/mm/aaaa HH:MM */
  var zoned = document.querySelector("[data-zone]");
  var timeFormat = new Intl.DateTimeFormat("pt-BR", {
    dateStyle: "short", timeStyle: "short",
    timeZone: (zoned && zoned.getAttribute("data-zone")) || "America/Sao_Paulo"
  });
  function when(iso) {
    return timeFormat.format(new Date(iso)).replace(",", "");
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    if (text instanceof Node) { td.appendChild(text); } else { td.textContent = text; }
    return td;
  }

  function waited(iso) {
    if (!iso) { return "–"; }
    var seconds = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
    var minutes = Math.floor(seconds / 60);
    var rest = ("0" + (seconds % 60)).slice(-2);
    if (minutes >= 60) { return Math.floor(minutes / 60) + " h " + ("0" + (minutes % 60)).slice(-2) + " min"; }
    return minutes ? minutes + " min " + rest + " s" : (seconds % 60) + " s";
  }

  function withId(template, id) {
    return template.replace(/\/0(\/|$)/, "/" + id + "$1");
  }

  /* --- the inbox --------------------------------------------------------------------- */
  var queueTable = document.getElementById("queue-table");
  if (queueTable && window.SincroLive) {
    var queueRows = document.getElementById("queue-rows");
    var ongoingRows = document.getElementById("ongoing-rows");
    var conversationUrl = queueTable.dataset.conversationUrl;
    var takeUrl = queueTable.dataset.takeUrl;
    var csrf = queueTable.dataset.csrf;

    function link(id) {
      var a = document.createElement("a");
      a.href = withId(conversationUrl, id);
      a.textContent = id;
      return a;
    }

    function takeForm(id) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = withId(takeUrl, id);
      form.className = "inline-form";
      var token = document.createElement("input");
      token.type = "hidden"; token.name = "csrf"; token.value = csrf;
      var button = document.createElement("button");
      button.type = "submit"; button.className = "button small"; button.textContent = "Atender";
      form.appendChild(token); form.appendChild(button);
      return form;
    }

    function placeholder(body, columns, text) {
      var tr = document.createElement("tr");
      tr.className = "placeholder";
      var td = cell(text, "empty");
      td.colSpan = columns;
      tr.appendChild(td);
      body.appendChild(tr);
    }

    function showQueue(snapshot) {
      queueRows.textContent = "";
      (snapshot.waiting || []).forEach(function (c) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-conversation", c.id);
        tr.appendChild(cell(link(c.id), "mono"));
        var since = cell(waited(c.queued_at), "nowrap");
        since.setAttribute("data-since", c.queued_at || "");
        tr.appendChild(since);
        var reason = cell(c.reason);
        if (c.by_email) {
          var pill = document.createElement("span");
          pill.className = "pill warn"; pill.textContent = "responder por e-mail";
          reason.appendChild(document.createTextNode(" ")); reason.appendChild(pill);
        }
        tr.appendChild(reason);
        tr.appendChild(cell(c.channel));
        tr.appendChild(cell(c.preview, "preview"));
        tr.appendChild(cell(takeForm(c.id)));
        queueRows.appendChild(tr);
      });
      if (!queueRows.children.length) { placeholder(queueRows, 6, "Ninguém na fila."); }
      ongoingRows.textContent = "";
      (snapshot.ongoing || []).forEach(function (c) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-conversation", c.id);
        tr.appendChild(cell(link(c.id), "mono"));
        tr.appendChild(cell(c.agent));
        tr.appendChild(cell(c.reason));
        tr.appendChild(cell(c.preview, "preview"));
        tr.appendChild(cell(when(c.last_message_at), "nowrap"));
        ongoingRows.appendChild(tr);
      });
      if (!ongoingRows.children.length) { placeholder(ongoingRows, 5, "Nenhuma conversa em atendimento."); }
      var count = document.getElementById("queue-count");
      if (count) { count.textContent = (snapshot.waiting || []).length; }
      var present = document.getElementById("present-count");
      if (present) { present.textContent = snapshot.present; }
    }

    window.SincroLive.follow(queueTable.dataset.stream, {
      status: document.getElementById("queue-status"),
      events: { queue: showQueue }
    });
    window.setInterval(function () {
      Array.prototype.forEach.call(queueRows.querySelectorAll("[data-since]"), function (td) {
        td.textContent = waited(td.getAttribute("data-since"));
      });
    }, 5000);
  }

  /* --- one conversation -------------------------------------------------------------- */
  var transcript = document.getElementById("transcript");
  if (transcript && window.SincroLive) {
    var shownState = transcript.dataset.state;
    var seen = {};
    Array.prototype.forEach.call(transcript.querySelectorAll("[data-seq]"), function (li) {
      seen[li.getAttribute("data-seq")] = true;
    });

    function addMessage(m) {
      if (seen[m.seq]) { return; }
      seen[m.seq] = true;
      var li = document.createElement("li");
      li.className = "msg fresh msg-" + m.sender;
      li.setAttribute("data-seq", m.seq);
      var head = document.createElement("div");
      head.className = "msg-head";
      var who = document.createElement("strong");
      who.textContent = m.sender_label;
      head.appendChild(who);
      head.appendChild(document.createTextNode(" " + when(m.at)));
      var text = document.createElement("div");
      text.className = "msg-text";
      text.textContent = m.text;
      li.appendChild(head);
      li.appendChild(text);
      if (m.email) {
        var note = document.createElement("div");
        note.className = "msg-note muted";
        note.textContent = m.email;
        li.appendChild(note);
      }
      transcript.appendChild(li);
      transcript.scrollTop = transcript.scrollHeight;
    }

    function showState(s) {
      var pill = document.getElementById("conversation-state");
      if (pill && s.state_label) { pill.textContent = s.state_label; pill.setAttribute("data-state", s.state); }
      if (s.state && s.state !== shownState) {
        var notice = document.getElementById("state-changed");
        if (notice) { notice.hidden = false; }
      }
    }

    window.SincroLive.follow(transcript.dataset.stream, {
      status: document.getElementById("conversation-status"),
      events: { message: addMessage, state: showState }
    });
    transcript.scrollTop = transcript.scrollHeight;
  }

  var answer = document.getElementById("answer-text");
  Array.prototype.forEach.call(document.querySelectorAll("button.suggestion"), function (button) {
    button.addEventListener("click", function () {
      if (!answer) { return; }
      answer.value = button.getAttribute("data-text");
      answer.focus();
    });
  });
})();
