// The dashboard's rendering, without data access: rows are built with textContent only (never
// by parsing markup), and the activity chart. admin.js loads data and calls these.
window.ersAdminView = (() => {
  function fmtIdle(s) {
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function cell(tr, text, cls, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }

  function button(text, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  /** "Firefox on Linux" from a user agent; the whole agent is the cell's title. */
  function browserOf(ua) {
    if (!ua) return "\u2013";
    const names = [
      [/Edg\//, "Edge"],
      [/OPR\//, "Opera"],
      [/Firefox\//, "Firefox"],
      [/Chrom(e|ium)\//, "Chrome"],
      [/Safari\//, "Safari"],
      [/^curl\//, "curl"],
    ];
    const systems = [
      [/iPhone|iPad/, "iOS"],
      [/Android/, "Android"],
      [/Windows/, "Windows"],
      [/Mac OS X|Macintosh/, "macOS"],
      [/Linux|X11/, "Linux"],
    ];
    const name = names.find((n) => n[0].test(ua));
    const system = systems.find((n) => n[0].test(ua));
    if (!name) return ua.length > 24 ? `${ua.slice(0, 24)}\u2026` : ua;
    return system ? `${name[1]} on ${system[1]}` : name[1];
  }

  function fmtCreated(created) {
    return typeof created === "number" ? new Date(created * 1000).toLocaleString() : "\u2013";
  }

  // Rows carry a session's handle (non-secret), never its token: a page showing tokens would
  // hand every session to whoever reads it.
  function renderRows(table, sessions, withId, actions) {
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    sessions.forEach((s) => {
      const tr = document.createElement("tr");
      tr.dataset.handle = s.handle || "";
      cell(tr, s.handle || "\u2013", "mono");
      if (withId) {
        const id = cell(tr, "");
        const a = document.createElement("a");
        a.textContent = s.id;
        a.title = "Show this user's sessions";
        a.addEventListener("click", () => actions.user(s.id));
        id.appendChild(a);
      }
      cell(tr, browserOf(s.ua), "", s.ua || "");
      cell(tr, fmtCreated(s.created));
      cell(tr, s.ip);
      cell(tr, fmtIdle(s.idle));
      cell(tr, `${s.r}/${s.w}`);
      const td = document.createElement("td");
      if (s.handle) td.appendChild(button("Kill", "danger small", () => actions.kill(s)));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }

  function drawChart(svg, values) {
    const NS = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    const labels = ["1 min", "10 min", "1 h"];
    const max = Math.max(1, Math.max.apply(null, values));
    values.forEach((v, i) => {
      const h = Math.round((v / max) * 80);
      const x = 20 + i * 95;
      const rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", String(x));
      rect.setAttribute("y", String(96 - h));
      rect.setAttribute("width", "70");
      rect.setAttribute("height", String(Math.max(h, 1)));
      rect.setAttribute("rx", "3");
      svg.appendChild(rect);
      const value = document.createElementNS(NS, "text");
      value.setAttribute("x", String(x + 35));
      value.setAttribute("y", String(92 - h));
      value.textContent = String(v);
      svg.appendChild(value);
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", String(x + 35));
      label.setAttribute("y", "112");
      label.textContent = labels[i];
      svg.appendChild(label);
    });
  }

  return { renderRows, drawChart, browserOf };
})();
