// Live traffic page: listens to /stats/stream (Server-Sent Events) and draws
// the windows as stacked bars in inline SVG. No libraries, no network access
// beyond this server.
'use strict';
(() => {
  // Okabe–Ito colours, each type also with its own pattern, so the bars read
  // without colour vision too; ink is the label colour with enough contrast.
  const TYPES = [
    { name: 'CAR', color: '#0072B2', ink: '#ffffff', pattern: null },
    { name: 'TRUCK', color: '#E69F00', ink: '#000000', pattern: 'diagonal' },
    { name: 'BUS', color: '#009E73', ink: '#000000', pattern: 'dots' },
    { name: 'VAN', color: '#CC79A7', ink: '#000000', pattern: 'cross' },
    { name: 'MOTORCYCLE', color: '#56B4E9', ink: '#000000', pattern: 'lines' },
  ];
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (sel) => document.querySelector(sel);

  let last = null; // the last stats snapshot
  let receivedAt = 0; // performance.now() when it arrived
  let updates = 0;
  let retryMs = 1000;
  const seen = new Set(); // vehicle types seen since the page loaded
  const epsHistory = [];

  // ---- formatting ----
  const num = (n) => Number(n).toLocaleString();
  const dec1 = (n) => Number(n).toLocaleString(undefined, { maximumFractionDigits: 1, minimumFractionDigits: n > 0 && n < 10 ? 1 : 0 });
  const timeFmt = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  const clock = (iso) => new Date(iso).toLocaleTimeString([], timeFmt);
  const range = (w) => `${clock(w.start)}–${clock(w.end)}`;
  function duration(s) {
    if (s == null || !isFinite(s)) return '–';
    const neg = s < 0;
    s = Math.abs(s);
    let out;
    if (s < 60) out = `${s.toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} s`;
    else if (s < 3600) out = `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
    else if (s < 86400 * 2) out = `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
    else out = `${num(Math.floor(s / 86400))} days`;
    return neg ? `−${out}` : out;
  }

  // ---- small DOM helpers ----
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  function setText(sel, text, value) {
    const e = $(sel);
    e.textContent = text;
    if (value !== undefined) e.dataset.value = value;
    return e;
  }

  // ---- patterns, defined once for the chart and the legend ----
  function definePatterns() {
    const defs = svg('defs');
    for (const t of TYPES) {
      if (!t.pattern) continue;
      const p = svg('pattern', { id: `pat-${t.name}`, patternUnits: 'userSpaceOnUse', width: 6, height: 6 });
      const light = 'rgba(255,255,255,.5)';
      const dark = 'rgba(0,0,0,.28)';
      switch (t.pattern) {
        case 'diagonal':
          p.setAttribute('patternTransform', 'rotate(45)');
          p.append(svg('rect', { width: 2.2, height: 6, fill: light }));
          break;
        case 'dots':
          p.append(svg('circle', { cx: 3, cy: 3, r: 1.3, fill: light }));
          break;
        case 'cross':
          p.setAttribute('patternTransform', 'rotate(45)');
          p.append(svg('rect', { width: 1.4, height: 6, fill: light }), svg('rect', { width: 6, height: 1.4, fill: light }));
          break;
        case 'lines':
          p.append(svg('rect', { y: 2, width: 6, height: 1.6, fill: dark }));
          break;
      }
      defs.append(p);
    }
    const holder = svg('svg', { width: 0, height: 0, 'aria-hidden': 'true' }, defs);
    holder.style.position = 'absolute';
    document.body.prepend(holder);
  }
  function swatch(t, size) {
    const s = svg('svg', { width: size, height: size, viewBox: '0 0 14 14', class: 'sw', 'aria-hidden': 'true' },
      svg('rect', { width: 14, height: 14, rx: 3, fill: t.color }));
    if (t.pattern) s.append(svg('rect', { width: 14, height: 14, rx: 3, fill: `url(#pat-${t.name})` }));
    return s;
  }
  const shownTypes = () => TYPES.filter((t) => seen.has(t.name));

  // ---- status line ----
  function setStatus(state, text) {
    const s = $('#status');
    s.dataset.state = state;
    $('#status-text').textContent = text;
  }

  // ---- rendering ----
  function render() {
    const snap = last;
    for (const w of snap.windows) for (const k of Object.keys(w.counts)) seen.add(k);
    $('#window-size').textContent = `· ${snap.windowSize} each`;
    renderCards(snap);
    renderLegend();
    renderChart(snap);
    renderTable(snap);
  }

  function renderCards(snap) {
    const open = snap.windows.find((w) => !w.closed);
    const closed = snap.windows.filter((w) => w.closed);
    const wm = snap.watermark ? Date.parse(snap.watermark) : null;
    if (open) {
      setText('#open-total', num(open.total), open.total);
      setText('#open-range', `vehicles in ${range(open)}`);
      const s = Date.parse(open.start), e = Date.parse(open.end);
      const f = wm == null ? 0 : Math.min(1, Math.max(0, (wm + 1 - s) / (e - s)));
      $('#open-meter').style.width = `${(f * 100).toFixed(1)}%`;
      setText('#open-note', `closes when the watermark reaches ${clock(open.end)}`);
    } else {
      setText('#open-total', '0', '');
      setText('#open-range', 'no window open');
      $('#open-meter').style.width = '0';
      setText('#open-note', 'a window opens with the next vehicle');
    }
    if (closed.length) {
      const c = closed[0];
      setText('#closed-total', num(c.total), c.total);
      setText('#closed-range', `vehicles in ${range(c)}`);
      const prev = closed[1];
      if (prev && Date.parse(prev.end) === Date.parse(c.start)) {
        const d = c.total - prev.total;
        setText('#closed-change', d === 0 ? 'as many as the window before'
          : `${d > 0 ? '▲' : '▼'} ${num(Math.abs(d))} ${d > 0 ? 'more' : 'fewer'} than the window before`);
      } else {
        setText('#closed-change', '');
      }
    } else {
      setText('#closed-total', '–', '');
      setText('#closed-range', 'none closed yet');
      setText('#closed-change', '');
    }
    setText('#eps', dec1(snap.eventsPerSecond), snap.eventsPerSecond);
    setText('#wm', snap.watermark ? `watermark at ${clock(snap.watermark)}` : 'no watermark yet', snap.watermark || '');
    tickLag();
    setText('#emit', snap.emitDelaySeconds != null ? `last window out ${num(Math.round(snap.emitDelaySeconds * 1000))} ms after its end` : '',
      snap.emitDelaySeconds != null ? snap.emitDelaySeconds : '');
    const late = setText('#late', num(snap.late), snap.late);
    late.classList.toggle('nonzero', snap.late > 0);
    const dead = setText('#dead', num(snap.deadLetters), snap.deadLetters);
    dead.classList.toggle('nonzero', snap.deadLetters > 0);
  }

  function tickLag() {
    if (!last) return;
    const lag = last.watermarkLagSeconds;
    if (lag == null) {
      setText('#lag', '–', '');
      return;
    }
    const now = lag + (performance.now() - receivedAt) / 1000;
    setText('#lag', duration(now), lag);
  }

  let legendKey = '';
  function renderLegend() {
    const key = [...seen].sort().join();
    if (key === legendKey) return;
    legendKey = key;
    const ul = $('#legend');
    ul.replaceChildren(...shownTypes().map((t) => el('li', {}, swatch(t, 14), t.name.toLowerCase())));
    const openKey = svg('svg', { width: 14, height: 14, viewBox: '0 0 14 14', 'aria-hidden': 'true' },
      svg('rect', { x: 1, y: 1, width: 12, height: 12, rx: 2, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5, 'stroke-dasharray': '3 2' }));
    ul.append(el('li', { class: 'open-key' }, openKey, 'open (still counting)'));
  }

  function niceTicks(max, count) {
    const raw = max / count;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    const st = Math.max(1, step);
    const top = Math.ceil(max / st) * st;
    const ticks = [];
    for (let v = 0; v <= top + 1e-9; v += st) ticks.push(v);
    return ticks;
  }

  function renderChart(snap) {
    const host = $('#chart');
    if (!snap.windows.length) {
      host.replaceChildren(el('p', { class: 'empty', text: 'Waiting for the first vehicles…' }));
      return;
    }
    const W = Math.max(280, Math.round(host.clientWidth));
    const H = W < 560 ? 240 : 280;
    const m = { top: 34, right: 6, bottom: 44, left: 46 };
    const iw = W - m.left - m.right;
    const ih = H - m.top - m.bottom;
    // As many of the newest windows as fit at a readable width (the table
    // lists them all); oldest on the left.
    const fit = Math.max(3, Math.floor(iw / 44));
    const wins = snap.windows.slice(0, fit).reverse();
    const ticks = niceTicks(Math.max(1, ...wins.map((w) => w.total)), W < 560 ? 3 : 4);
    const yMax = ticks[ticks.length - 1];
    const y = (v) => m.top + ih - (v / yMax) * ih;
    const slots = Math.max(wins.length, Math.min(8, fit));
    const slot = iw / slots;
    const bw = Math.min(76, slot * 0.64);
    const x0 = m.left + iw - wins.length * slot; // newest at the right edge
    const every = slot < 58 ? 2 : 1;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
      'aria-label': `Stacked bars: vehicles per type in the ${wins.length} newest windows` });

    for (const v of ticks) {
      root.append(svg('line', { class: v === 0 ? 'baseline' : 'gridline', x1: m.left, x2: W - m.right, y1: y(v), y2: y(v) }));
      root.append(svg('text', { class: 'axis', x: m.left - 8, y: y(v) + 4, 'text-anchor': 'end', text: num(v) }));
    }
    wins.forEach((w, i) => {
      const x = x0 + i * slot + (slot - bw) / 2;
      const g = svg('g', { class: w.closed ? 'bar closed' : 'bar open', 'data-start': w.start });
      const parts = TYPES.filter((t) => w.counts[t.name]).map((t) => `${t.name.toLowerCase()} ${num(w.counts[t.name])}`);
      g.append(svg('title', { text: `${range(w)} (${w.start} UTC) · ${w.closed ? 'closed' : 'open, still counting'}\n${parts.join(', ')}\ntotal ${num(w.total)}` }));
      let acc = 0;
      for (const t of TYPES) {
        const c = w.counts[t.name] || 0;
        if (!c) continue;
        const top = y(acc + c), h = y(acc) - top;
        acc += c;
        g.append(svg('rect', { x, y: top, width: bw, height: Math.max(h, 0.5), fill: t.color }));
        if (t.pattern) g.append(svg('rect', { x, y: top, width: bw, height: Math.max(h, 0.5), fill: `url(#pat-${t.name})` }));
        if (h >= 16 && bw >= 24) {
          g.append(svg('text', { class: 'seg-label', x: x + bw / 2, y: top + h / 2 + 4, 'text-anchor': 'middle',
            fill: t.ink, stroke: t.color, text: num(c) }));
        }
      }
      if (!w.closed) {
        g.append(svg('rect', { class: 'open-outline', x: x - 2.5, y: y(w.total) - 2.5, width: bw + 5, height: y(0) - y(w.total) + 2.5 }));
      }
      g.append(svg('text', { class: 'total', x: x + bw / 2, y: y(w.total) - (w.closed ? 7 : 9), 'text-anchor': 'middle', text: num(w.total) }));
      if ((wins.length - 1 - i) % every === 0) {
        g.append(svg('text', { class: 'axis', x: x + bw / 2, y: H - m.bottom + 18, 'text-anchor': 'middle', text: clock(w.start) }));
      }
      if (!w.closed) {
        g.append(svg('text', { class: 'open-tag', x: x + bw / 2, y: H - m.bottom + 34, 'text-anchor': 'middle', text: 'OPEN' }));
      }
      root.append(g);
    });
    host.replaceChildren(root);
  }

  function renderTable(snap) {
    const types = shownTypes();
    const head = $('#windows-head');
    const headKey = types.map((t) => t.name).join();
    if (head.dataset.key !== headKey) {
      head.dataset.key = headKey;
      head.replaceChildren(el('th', { scope: 'col', text: 'Window' }), el('th', { scope: 'col', text: 'State' }),
        ...types.map((t) => el('th', { scope: 'col', title: t.name.toLowerCase() }, swatch(t, 12), el('span', { class: 'name', text: t.name.toLowerCase() }))),
        el('th', { scope: 'col', class: 'total', text: 'Total' }));
    }
    const rows = snap.windows.map((w) => {
      const tr = el('tr', { class: w.closed ? 'closed' : 'open', title: `${w.start} – ${w.end} UTC` });
      tr.dataset.start = w.start;
      tr.dataset.end = w.end;
      tr.dataset.closed = String(w.closed);
      tr.dataset.total = String(w.total);
      tr.dataset.counts = JSON.stringify(w.counts);
      tr.append(el('td', {}, el('span', { text: clock(w.start) }), el('span', { class: 'end', text: `–${clock(w.end)}` })),
        el('td', {}, el('span', { class: `state ${w.closed ? 'closed' : 'open'}`, title: w.closed ? 'closed' : 'open' },
          w.closed ? '✓' : '●', el('span', { class: 'word', text: w.closed ? 'closed' : 'open' }))));
      for (const t of types) {
        const c = w.counts[t.name] || 0;
        tr.append(el('td', { class: c ? 'count' : 'count zero', 'data-type': t.name, text: c ? num(c) : '–' }));
      }
      tr.append(el('td', { class: 'total', text: num(w.total) }));
      return tr;
    });
    if (!rows.length) {
      rows.push(el('tr', {}, el('td', { colspan: types.length + 3, class: 'zero', text: 'No windows yet.' })));
    }
    $('#windows tbody').replaceChildren(...rows);
  }

  function drawSpark() {
    const s = $('#spark');
    if (epsHistory.length < 2) {
      s.replaceChildren();
      return;
    }
    const max = Math.max(1, ...epsHistory);
    const n = 60;
    const pts = epsHistory.map((v, i) => `${((n - epsHistory.length + i) / (n - 1)) * 200},${34 - (v / max) * 32}`);
    const first = pts[0].split(',')[0];
    s.replaceChildren(svg('polygon', { points: `${first},36 ${pts.join(' ')} 200,36` }), svg('polyline', { points: pts.join(' ') }));
  }

  // ---- the stream ----
  function connect() {
    setStatus('connecting', 'Connecting…');
    const es = new EventSource('/stats/stream');
    es.addEventListener('open', () => {
      retryMs = 1000;
      setStatus('live', 'Live');
    });
    es.addEventListener('stats', (ev) => {
      last = JSON.parse(ev.data);
      receivedAt = performance.now();
      updates++;
      document.body.dataset.updates = String(updates);
      setStatus('live', `Live · updated ${new Date(Date.parse(last.now)).toLocaleTimeString([], timeFmt)}`);
      render();
    });
    es.addEventListener('unavailable', (ev) => {
      const d = JSON.parse(ev.data);
      setStatus('unavailable', `Counts unavailable (${d.error}); retrying`);
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) {
        // The server refused (429 or 503: too many streams) or is gone; EventSource
        // gives up in that case, so retry with a growing pause.
        es.close();
        setStatus('down', `Disconnected · retrying in ${Math.round(retryMs / 1000)} s`);
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      } else {
        setStatus('stale', 'Reconnecting…');
      }
    });
  }

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => last && renderChart(last), 120);
  });
  // Close the watermark explanation with Escape or a click elsewhere.
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') document.querySelectorAll('details.info[open]').forEach((d) => d.removeAttribute('open'));
  });
  document.addEventListener('click', (e) => {
    document.querySelectorAll('details.info[open]').forEach((d) => { if (!d.contains(e.target)) d.removeAttribute('open'); });
  });

  setInterval(() => {
    tickLag();
    if (last) {
      epsHistory.push(last.eventsPerSecond);
      if (epsHistory.length > 60) epsHistory.shift();
      drawSpark();
    }
  }, 1000);

  definePatterns();
  connect();
})();
