// facemon dashboard: live view over a WebSocket (binary messages are the
// JPEG frames as received, text messages are JSON events), who is in view,
// camera switching, enrolment and training, and (when the edge proxies the
// recognizer's API under /rapi/) the People, Events and Unknowns views.
// Plain JS, no dependencies.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  var cam = params.get('cam') || '';
  var local = '';
  var ws = null, retry = null;
  var frames = 0, fpsCount = 0, lastURL = null, decoding = false, pendingBuf = null;
  var people = [];

  // --- login -----------------------------------------------------------
  // The edge answers /api/session with the session's CSRF token, sent as
  // X-CSRF-Token on every request that changes something. Without a
  // session (expired, logged out, edge restarted) the page goes to /login.
  var csrf = '', loginOn = false;
  function toLogin() {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search + location.hash);
  }
  function post(url, body) {
    return fetch(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: body === undefined ? '{}' : JSON.stringify(body)
    }).then(function (r) {
      if (r.status === 401 && loginOn) toLogin();
      return r;
    });
  }

  // --- frames --------------------------------------------------------
  // Reads the facemon COM segment ("facemon/1 cam=.. seq=.. ts=..") that
  // follows the JPEG SOI marker, if any.
  function frameMeta(u8) {
    if (u8.length < 8 || u8[0] !== 0xFF || u8[1] !== 0xD8 || u8[2] !== 0xFF || u8[3] !== 0xFE) return null;
    var n = (u8[4] << 8) | u8[5];
    if (n < 2 || 4 + n > u8.length || n > 256) return null;
    var s = '';
    for (var i = 6; i < 4 + n; i++) s += String.fromCharCode(u8[i]);
    if (s.indexOf('facemon/1 ') !== 0) return null;
    var m = {};
    s.split(' ').forEach(function (kv) { var p = kv.split('='); if (p.length === 2) m[p[0]] = p[1]; });
    return m;
  }

  function showFrame(buf) {
    // Latest-frame dropping: while the browser decodes one frame, only the
    // newest of those arriving meanwhile is kept.
    if (decoding) { pendingBuf = buf; return; }
    decoding = true;
    var u8 = new Uint8Array(buf);
    var meta = frameMeta(u8);
    var url = URL.createObjectURL(new Blob([u8], { type: 'image/jpeg' }));
    var img = $('view');
    img.onload = img.onerror = function () {
      if (lastURL) URL.revokeObjectURL(lastURL);
      lastURL = url;
      frames++; fpsCount++;
      $('frames').textContent = frames;
      img.dataset.frames = frames;
      if (meta) {
        $('seq').textContent = meta.seq;
        var age = Date.now() - Math.round(Number(meta.ts) / 1e6);
        $('age').textContent = isFinite(age) ? age : '–';
      }
      decoding = false;
      if (pendingBuf) { var b = pendingBuf; pendingBuf = null; showFrame(b); }
    };
    img.src = url;
  }

  setInterval(function () { $('fps').textContent = fpsCount; fpsCount = 0; }, 1000);

  // --- events --------------------------------------------------------
  function setMode(m) {
    var b = $('badge');
    b.dataset.mode = m.mode || '';
    b.textContent = m.label || 'waiting for camera';
  }

  function setCameras(list) {
    fillSelect($('event-camera'), list.map(function (c) { return c.id; }));
    var sel = $('camera');
    sel.innerHTML = '';
    list.forEach(function (c) {
      var o = document.createElement('option');
      o.value = c.id;
      o.textContent = c.id + (c.local ? ' (this edge)' : '') + (c.online ? '' : ' — offline');
      if (c.id === cam) o.selected = true;
      sel.appendChild(o);
    });
  }

  function ago(t) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
    return s < 2 ? 'now' : s + ' s ago';
  }

  function renderPeople() {
    var ul = $('people');
    ul.innerHTML = '';
    if (!people || people.length === 0) {
      var li = document.createElement('li'); li.className = 'none'; li.textContent = 'nobody in view';
      ul.appendChild(li);
      return;
    }
    people.forEach(function (p) {
      var li = document.createElement('li');
      if (!p.in_view) li.className = 'gone';
      var n = document.createElement('span'); n.className = 'who'; n.textContent = p.name;
      var d = document.createElement('span'); d.className = 'small';
      d.textContent = 'd=' + Number(p.distance).toFixed(2) + ' · ' + ago(p.last_seen);
      li.appendChild(n); li.appendChild(d);
      ul.appendChild(li);
    });
  }
  setInterval(renderPeople, 2000);

  var statusText = {
    saved: '✓ saved', queued: '… queued', pending: '⏳ PENDING: a person must confirm it (People → Pending captures)',
    no_face: '✗ no face found',
    several_faces: '✗ several faces in view', refused: '✗ refused', error: '✗ error'
  };

  function logEnrol(r) {
    var li = document.createElement('li');
    li.dataset.status = r.status;
    li.textContent = new Date().toLocaleTimeString() + ' ' + r.name + ': ' + (statusText[r.status] || r.status) +
      (r.message ? ' — ' + r.message : '');
    var log = $('enrol-log');
    log.insertBefore(li, log.firstChild);
    while (log.children.length > 20) log.removeChild(log.lastChild);
  }

  function onEvent(ev) {
    var d = ev.data;
    switch (ev.type) {
      case 'hello':
        cam = d.camera; local = d.local;
        setCameras(d.cameras || []);
        setMode(d.mode || {});
        people = d.people || []; renderPeople();
        setRecognizer(d.recognizer_online);
        $('enrol-panel').hidden = !d.enrol;
        if (d.enrol_burst && !burstTouched) $('burst').value = d.enrol_burst;
        trainAllowed = !!d.train;
        updateTrainButton();
        if (d.train_status) showTrain(d.train_status);
        if (d.history !== undefined && !!d.history !== historyOn) setHistory(d.history);
        break;
      case 'mode': setMode(d); break;
      case 'identities': people = d || []; renderPeople(); break;
      case 'cameras': setCameras(d || []); break;
      case 'recognizer': setRecognizer(d && d.online); break;
      case 'enrol': if (d && d.resent) logEnrol(d); break;
      case 'enrol_progress': showProgress(d); break;
      case 'train': if (d) showTrain(d); break;
    }
  }

  function setRecognizer(on) {
    recognizerOn = !!on;
    $('recognizer').textContent = on ? 'recognizer online' : 'recognizer offline';
    if (!on && trainRunning) {
      trainRunning = false;
      $('train-detail').textContent = 'the recognizer went offline during training';
    }
    updateTrainButton();
  }

  // --- training ------------------------------------------------------
  // The Train button asks the recognizer to re-train its gallery; progress
  // and the result arrive as 'train' events (msg.TrainStatus).
  var trainAllowed = false, recognizerOn = false, trainRunning = false;
  var trainPending = null, trainWait = null, trainStale = null;
  var trainSeen = {}; // request ids with a status already shown

  function updateTrainButton() {
    var b = $('train');
    b.hidden = !(trainAllowed && recognizerOn);
    b.disabled = trainRunning || trainPending !== null;
  }

  function setTrainLine(state, text, detail) {
    var st = $('train-status');
    st.dataset.state = state;
    st.textContent = text;
    $('train-detail').textContent = detail || '';
  }

  function skippedText(st) {
    if (!st.skipped) return '';
    var r = st.reasons || {};
    var parts = Object.keys(r).sort().map(function (k) { return k.replace(/_/g, ' ') + ' ' + r[k]; });
    return st.skipped + ' skipped' + (parts.length ? ' (' + parts.join(', ') + ')' : '');
  }

  function showTrain(st) {
    var prog = $('train-progress');
    $('train-status').dataset.id = st.id || '';
    if (st.id) trainSeen[st.id] = true;
    clearTimeout(trainStale);
    if (st.id && st.id === trainPending) { trainPending = null; clearTimeout(trainWait); }
    var when = st.time ? new Date(st.time).toLocaleTimeString() : '';
    switch (st.state) {
      case 'running':
        trainRunning = true;
        prog.hidden = false;
        if (st.total > 0) { prog.max = st.total; prog.value = st.seen; } else { prog.removeAttribute('value'); }
        setTrainLine('running', st.total > 0 ?
          'training ' + st.seen + '/' + st.total + (st.skipped ? ', ' + st.skipped + ' skipped' : '') : 'training…');
        // A recognizer that dies mid-run leaves "running" behind.
        trainStale = setTimeout(function () {
          trainRunning = false; updateTrainButton();
          $('train-detail').textContent = 'no progress for 60 s';
        }, 60000);
        break;
      case 'done':
        trainRunning = false;
        prog.hidden = true;
        setTrainLine('done', 'trained ' + st.people + ' people, ' + st.encodings + ' encodings in ' +
          ((st.duration_ms || 0) / 1000).toFixed(1) + ' s',
          [skippedText(st), when].filter(Boolean).join(' · '));
        break;
      case 'error':
        trainRunning = false;
        prog.hidden = true;
        setTrainLine('error', '✗ training failed: ' + (st.error || 'unknown error'), when);
        break;
    }
    updateTrainButton();
  }

  $('train').addEventListener('click', function () {
    trainPending = '';
    updateTrainButton();
    setTrainLine('pending', 'starting training…');
    post('/api/train')
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (!res.ok || !res.j.id) {
          trainPending = null;
          setTrainLine('error', '✗ ' + (res.j.error || 'failed'));
          return;
        }
        if (trainSeen[res.j.id]) { trainPending = null; return; } // status came first
        trainPending = res.j.id;
        clearTimeout(trainWait);
        trainWait = setTimeout(function () {
          if (trainPending !== res.j.id) return;
          trainPending = null;
          setTrainLine('error', '✗ no answer from the recognizer');
          updateTrainButton();
        }, 15000);
      })
      .catch(function (err) { trainPending = null; setTrainLine('error', '✗ ' + err); })
      .then(updateTrainButton);
  });

  // --- connection ----------------------------------------------------
  function connect() {
    clearTimeout(retry);
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var sock = new WebSocket(proto + '//' + location.host + '/ws' + (cam ? '?cam=' + encodeURIComponent(cam) : ''));
    sock.binaryType = 'arraybuffer';
    ws = sock;
    sock.onopen = function () { setConn(true); };
    sock.onmessage = function (e) {
      if (sock !== ws) return;
      if (typeof e.data === 'string') {
        try { onEvent(JSON.parse(e.data)); } catch (err) { console.warn('bad event', err); }
      } else {
        showFrame(e.data);
      }
    };
    sock.onclose = function () {
      if (sock !== ws) return;
      setConn(false);
      // A refused upgrade looks like any close: ask whether the session ended.
      checkSession().then(function (ok) { if (ok) retry = setTimeout(connect, 1000); });
    };
  }

  function setConn(on) {
    var c = $('conn');
    c.className = 'conn ' + (on ? 'on' : 'off');
    c.textContent = on ? 'live' : 'reconnecting…';
  }

  $('camera').addEventListener('change', function (e) {
    cam = e.target.value;
    var u = new URL(location.href);
    if (cam && cam !== local) u.searchParams.set('cam', cam); else u.searchParams.delete('cam');
    history.replaceState(null, '', u);
    people = []; renderPeople();
    var old = ws; ws = null;
    if (old) old.close();
    connect();
  });

  // --- enrolment -----------------------------------------------------
  // A Capture takes a burst (the frames input, prefilled with the edge's
  // --enrol-burst): 'enrol_progress' events tagged with this page's
  // capture id show "frame 3/10…", then the answer lists every frame, kept
  // or dropped with the recognizer's reason.
  var burstTouched = false, capturing = '';
  $('burst').addEventListener('input', function () { burstTouched = true; });

  function showProgress(p) {
    if (!p || !capturing || p.capture !== capturing) return;
    var st = $('enrol-status');
    st.dataset.frame = p.frame;
    st.textContent = p.stage === 'checking' ?
      'checking ' + p.frame + (p.frame === 1 ? ' frame' : ' frames') + ' on the recognizer…' :
      'capturing frame ' + p.frame + '/' + p.of + '…';
  }

  function showFrames(r) {
    var ol = $('enrol-frames');
    ol.innerHTML = '';
    ol.hidden = !(r && r.frames && r.frames.length);
    if (ol.hidden) return;
    r.frames.forEach(function (f) {
      var li = el('li', f.kept ? 'kept' : 'dropped');
      li.dataset.kept = f.kept ? '1' : '0';
      li.dataset.index = f.index;
      var why = f.kept ? '✓ kept' + (f.sharpness ? ' (sharpness ' + Math.round(f.sharpness) + ')' : '') :
        '✗ dropped: ' + (f.reason || 'no reason given');
      if (f.kept && f.warnings && f.warnings.length) why += ' — ' + f.warnings.join(', ');
      li.textContent = 'frame ' + (f.index + 1) + ' ' + why;
      ol.appendChild(li);
    });
  }

  function burstSummary(r) {
    var text = (statusText[r.status] || r.status);
    if (r.frames && r.frames.length) {
      var kept = r.frames.filter(function (f) { return f.kept; }).length;
      text += ' — ' + kept + ' of ' + r.frames.length + ' frames kept';
      if (r.captured && r.sent && r.sent < r.captured) text += ' (' + r.sent + ' of ' + r.captured + ' taken were sent: too large)';
      return text;
    }
    return text + (r.message ? ' — ' + r.message : '');
  }

  $('enrol-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var name = $('name').value.trim();
    var burst = Math.min(20, Math.max(1, parseInt($('burst').value, 10) || 1));
    var st = $('enrol-status'), btn = $('capture');
    btn.disabled = true;
    capturing = 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    st.dataset.status = 'pending';
    st.dataset.frame = '0';
    st.textContent = burst > 1 ? 'capturing frame 1/' + burst + '…' : 'capturing…';
    showFrames(null);
    post('/api/enrol', { name: name, burst: burst, capture: capturing }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        capturing = '';
        if (!res.ok || !res.j.results || !res.j.results.length) {
          st.dataset.status = 'error';
          st.textContent = '✗ ' + (res.j.error || 'failed');
          return;
        }
        var r = res.j.results[0];
        logEnrol(r);
        // 'pending' is the capturing state of this line: a pending result
        // (a person must confirm it) shows as 'unconfirmed'.
        st.dataset.status = r.status === 'pending' ? 'unconfirmed' : r.status;
        st.textContent = burstSummary(r);
        showFrames(r);
      })
      .catch(function (err) { capturing = ''; st.dataset.status = 'error'; st.textContent = '✗ ' + err; })
      .then(function () { btn.disabled = false; });
  });

  // --- history views: People, Events, Unknowns ------------------------
  // The edge proxies the recognizer's REST API under /rapi/ when it has a
  // --recognizer-url; /api/config and the hello event say whether it does.
  // Lists are updated in place (keyed by id) so a refresh never wipes a
  // name being typed or the feedback of a click.
  var historyOn = false, view = 'live', cameraIds = [];
  var views = ['live', 'people', 'events', 'unknowns'];
  var loading = {};

  // validName mirrors msg.ValidName; the recognizer has the final word.
  function validName(n) {
    if (!n || [...n].length > 64 || n[0] === '.' || n[0] === ' ' || n[n.length - 1] === ' ') return false;
    if (n.toLowerCase() === 'unknown') return false;
    return /^[\p{L}\p{Nd} _.-]+$/u.test(n);
  }

  // rapiURL maps a URL from the recognizer's answers (/api/...) onto the
  // edge's proxy; anything else is refused.
  function rapiURL(u) {
    if (typeof u !== 'string') return '';
    var path = u;
    if (!/^\//.test(u) || /^\/\//.test(u)) {
      try { path = new URL(u).pathname + new URL(u).search; } catch (e) { return ''; }
    }
    return path.indexOf('/api/') === 0 ? '/rapi/' + path.slice(5) : '';
  }

  function api(method, path, body) {
    var opt = { method: method, headers: {} };
    if (method !== 'GET') {
      opt.headers['Content-Type'] = 'application/json';
      opt.headers['X-CSRF-Token'] = csrf;
      opt.body = body === undefined ? '{}' : JSON.stringify(body);
    }
    return fetch('/rapi' + path, opt).then(function (r) {
      if (r.status === 401 && loginOn) toLogin();
      return r.text().then(function (t) {
        var j = null;
        try { j = t ? JSON.parse(t) : {}; } catch (e) { j = { error: t.slice(0, 200) }; }
        if (!r.ok) {
          var err = new Error((j && j.error) || ('HTTP ' + r.status));
          err.status = r.status;
          throw err;
        }
        return j;
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function when(t) {
    var d = new Date(t);
    return isNaN(d) ? '' : d.toLocaleString();
  }

  function feedback(node, state, text) {
    node.dataset.state = state;
    node.textContent = text;
  }

  // thumb fills box with an image, or a placeholder when there is none.
  function thumb(box, url, alt, ph) {
    box.innerHTML = '';
    box.dataset.missing = '';
    box.dataset.src = url || '';
    var fail = function () {
      box.innerHTML = '';
      box.dataset.missing = '1';
      box.appendChild(el('span', 'ph', ph || '?'));
    };
    if (!url) { fail(); return; }
    var img = el('img');
    img.alt = alt || '';
    img.loading = 'lazy';
    img.decoding = 'async';
    img.onerror = fail;
    img.src = url;
    box.appendChild(img);
  }

  // sync makes ul show items (in order) with one child per key: existing
  // children are updated, new ones created, vanished ones removed.
  function sync(ul, items, key, create, update, emptyText) {
    var old = {};
    Array.prototype.forEach.call(ul.querySelectorAll(':scope > li[data-key]'), function (li) { old[li.dataset.key] = li; });
    var none = ul.querySelector(':scope > li.empty');
    if (none) ul.removeChild(none);
    items.forEach(function (it, i) {
      var k = String(key(it));
      var li = old[k];
      delete old[k];
      if (!li) { li = create(it); li.dataset.key = k; }
      update(li, it);
      if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
    });
    Object.keys(old).forEach(function (k) {
      if (old[k].dataset.keep !== '1') ul.removeChild(old[k]);
    });
    if (!ul.children.length) ul.appendChild(el('li', 'empty', emptyText));
  }

  function setStatus(which, state, text) {
    var s = $(which + '-status');
    s.dataset.state = state;
    s.textContent = text;
  }

  // People ---------------------------------------------------------------
  // Pending captures: GET /rapi/pending, Confirm / Discard each.
  function loadPending() {
    return api('GET', '/pending').then(function (j) {
      var ps = j.pending || [];
      sync($('pending-list'), ps, function (p) { return p.id; }, function (p) {
        var li = el('li', 'card pending');
        var box = el('div', 'thumb');
        thumb(box, '/rapi/pending/' + encodeURIComponent(p.id) + '/image.jpg', p.name, '?');
        var info = el('div', 'info');
        info.appendChild(el('div', 'title', p.name));
        info.appendChild(el('div', 'small meta'));
        var name = el('input'); name.value = p.name; name.className = 'pending-name'; name.setAttribute('aria-label', 'name');
        var ok = el('button', 'confirm', 'Confirm'); ok.type = 'button';
        var no = el('button', 'discard', 'Discard'); no.type = 'button';
        var fb = el('div', 'small feedback');
        ok.addEventListener('click', function () {
          var n = name.value.trim();
          if (!validName(n)) { feedback(fb, 'error', '✗ not a valid name'); return; }
          ok.disabled = no.disabled = true;
          feedback(fb, 'pending', 'enrolling…');
          api('POST', '/pending/' + encodeURIComponent(p.id) + '/confirm', { name: n }).then(function (r) {
            feedback(fb, 'ok', '✓ ' + (r.status || 'saved') + ' as ' + (r.name || n));
            li.dataset.keep = '';
            loadPeople();
          }).catch(function (err) { ok.disabled = no.disabled = false; feedback(fb, 'error', '✗ ' + err.message); });
        });
        no.addEventListener('click', function () {
          ok.disabled = no.disabled = true;
          api('DELETE', '/pending/' + encodeURIComponent(p.id)).then(function () {
            feedback(fb, 'ok', '✓ discarded');
            loadPending();
          }).catch(function (err) { ok.disabled = no.disabled = false; feedback(fb, 'error', '✗ ' + err.message); });
        });
        info.appendChild(name); info.appendChild(ok); info.appendChild(no); info.appendChild(fb);
        li.appendChild(box); li.appendChild(info);
        return li;
      }, function (li, p) {
        li.querySelector('.meta').textContent = (p.camera || '?') + ' · ' + when(p.created) + ' · ' +
          (p.frames > 1 ? p.frames + ' frames of a burst' : p.faces + (p.faces === 1 ? ' face' : ' faces'));
      }, 'no pending captures');
      setStatus('pending', 'ok', ps.length + ' pending');
    }).catch(function (err) { setStatus('pending', 'error', '✗ ' + err.message); });
  }

  // Suggestions: GET /rapi/suggestions (grouped by person, best first),
  // Accept (a new sample of that person) / Discard each.
  function loadSuggestions() {
    return api('GET', '/suggestions').then(function (j) {
      var ss = j.suggestions || [];
      sync($('suggestion-list'), ss, function (s) { return s.id; }, function (s) {
        var li = el('li', 'card suggestion');
        li.dataset.person = s.name;
        var box = el('div', 'thumb');
        thumb(box, '/rapi/suggestions/' + encodeURIComponent(s.id) + '/image.jpg', s.name, '?');
        var info = el('div', 'info');
        info.appendChild(el('div', 'title', s.name));
        info.appendChild(el('div', 'small meta'));
        var ok = el('button', 'accept', 'Accept'); ok.type = 'button';
        var no = el('button', 'discard', 'Discard'); no.type = 'button';
        var fb = el('div', 'small feedback');
        ok.addEventListener('click', function () {
          ok.disabled = no.disabled = true;
          feedback(fb, 'pending', 'adding…');
          api('POST', '/suggestions/' + encodeURIComponent(s.id) + '/accept').then(function (r) {
            feedback(fb, 'ok', '✓ ' + (r.status || 'saved') + ': a sample of ' + (r.name || s.name));
            loadPeople();
          }).catch(function (err) { ok.disabled = no.disabled = false; feedback(fb, 'error', '✗ ' + err.message); });
        });
        no.addEventListener('click', function () {
          ok.disabled = no.disabled = true;
          api('DELETE', '/suggestions/' + encodeURIComponent(s.id)).then(function () {
            feedback(fb, 'ok', '✓ discarded');
            loadSuggestions();
          }).catch(function (err) { ok.disabled = no.disabled = false; feedback(fb, 'error', '✗ ' + err.message); });
        });
        info.appendChild(ok); info.appendChild(no); info.appendChild(fb);
        li.appendChild(box); li.appendChild(info);
        return li;
      }, function (li, s) {
        li.querySelector('.meta').textContent = (s.camera || '?') + ' · ' + when(s.created) +
          ' · sharpness ' + Math.round(s.quality) + ' · new by ' + (s.distance || 0).toFixed(2);
      }, 'no suggestions');
      setStatus('suggestions', 'ok', ss.length + (ss.length === 1 ? ' suggestion' : ' suggestions'));
    }).catch(function (err) { setStatus('suggestions', 'error', '✗ ' + err.message); });
  }

  function loadPeople() {
    loadPending();
    loadSuggestions();
    return api('GET', '/people').then(function (j) {
      var ps = (j.people || []).slice().sort(function (a, b) { return a.name.localeCompare(b.name); });
      fillPersonFilter(ps.map(function (p) { return p.name; }));
      sync($('people-list'), ps, function (p) { return p.name; }, function (p) {
        var li = el('li', 'card person');
        var box = el('div', 'thumb');
        thumb(box, '/rapi/events/latest/crop.jpg?person=' + encodeURIComponent(p.name), p.name, (p.name[0] || '?').toUpperCase());
        var info = el('div', 'info');
        info.appendChild(el('div', 'title', p.name));
        info.appendChild(el('div', 'small samples'));
        info.appendChild(el('div', 'small threshold'));
        li.appendChild(box); li.appendChild(info);
        return li;
      }, function (li, p) {
        li.dataset.name = p.name;
        li.querySelector('.samples').textContent = p.samples + (p.samples === 1 ? ' sample' : ' samples');
        li.querySelector('.threshold').textContent = p.threshold > 0 ?
          'threshold ' + Number(p.threshold).toFixed(2) : 'threshold: global';
        var box = li.querySelector('.thumb');
        if (box.dataset.missing === '1') thumb(box, box.dataset.src, p.name, (p.name[0] || '?').toUpperCase());
      }, 'nobody enrolled yet');
      setStatus('people', 'ok', ps.length + (ps.length === 1 ? ' person' : ' people'));
    });
  }

  // Events ---------------------------------------------------------------
  function fillSelect(sel, values) {
    var have = {};
    Array.prototype.forEach.call(sel.options, function (o) { have[o.value] = true; });
    values.forEach(function (v) {
      if (v && !have[v]) { var o = el('option', '', v); o.value = v; sel.appendChild(o); have[v] = true; }
    });
  }
  function fillPersonFilter(names) { fillSelect($('event-person'), names); }

  function notThisPerson(ev, btn, fb) {
    btn.disabled = true;
    feedback(fb, 'pending', 'sending…');
    api('POST', '/events/' + ev.id + '/not-this-person').then(function (j) {
      feedback(fb, 'ok', '✓ noted: not ' + (j.person || ev.name) + ' (kept as a negative example)');
      btn.closest('li').dataset.keep = '1';
    }).catch(function (err) {
      btn.disabled = false;
      feedback(fb, 'error', '✗ ' + err.message);
    });
  }

  function loadEvents() {
    var q = new URLSearchParams({ limit: '50' });
    if ($('event-camera').value) q.set('camera', $('event-camera').value);
    if ($('event-person').value) q.set('person', $('event-person').value);
    return api('GET', '/events?' + q).then(function (j) {
      var evs = j.events || [];
      fillSelect($('event-camera'), evs.map(function (e) { return e.camera; }));
      fillPersonFilter(evs.map(function (e) { return e.name; }));
      sync($('event-list'), evs, function (e) { return e.id; }, function (e) {
        var li = el('li', 'card event');
        li.dataset.id = e.id;
        li.dataset.name = e.name;
        var a = el('a', 'thumb');
        var frame = rapiURL(e.frame_url);
        if (frame) { a.href = frame; a.target = '_blank'; a.rel = 'noopener'; a.title = 'open the full frame'; }
        thumb(a, rapiURL(e.crop_url), e.name + ' on ' + e.camera, '?');
        var info = el('div', 'info');
        info.appendChild(el('div', 'title', e.name));
        info.appendChild(el('div', 'small', e.camera + ' · ' + when(e.time) + ' · d=' + Number(e.distance).toFixed(2)));
        var actions = el('div', 'actions');
        var btn = el('button', 'secondary not-this-person', 'Not ' + e.name);
        btn.type = 'button';
        btn.title = 'this face is not ' + e.name + ': store it as a negative example';
        var fb = el('div', 'fb');
        fb.setAttribute('role', 'status');
        btn.addEventListener('click', function () { notThisPerson(e, btn, fb); });
        actions.appendChild(btn);
        info.appendChild(actions);
        info.appendChild(fb);
        li.appendChild(a); li.appendChild(info);
        return li;
      }, function () {}, 'no events yet');
      setStatus('events', 'ok', evs.length + (evs.length === 1 ? ' event' : ' events, newest first') +
        ($('event-camera').value || $('event-person').value ? ' (filtered)' : ''));
    });
  }
  $('event-camera').addEventListener('change', function () { $('event-list').innerHTML = ''; refresh('events'); });
  $('event-person').addEventListener('change', function () { $('event-list').innerHTML = ''; refresh('events'); });

  // Unknowns -------------------------------------------------------------
  function groupAction(g, li, kind) {
    var fb = li.querySelector('.fb'), input = li.querySelector('input.name');
    var req;
    if (kind === 'name') {
      var name = input.value.trim();
      if (!validName(name)) {
        feedback(fb, 'error', '✗ a name is 1–64 letters, digits, spaces, _ - or . (not starting with . or a space, not "unknown")');
        input.focus();
        return;
      }
      req = api('POST', '/unknowns/' + g.id + '/name', { name: name, train: true }).then(function (j) {
        li.dataset.state = 'named';
        feedback(fb, 'ok', '✓ named ' + j.name + ': ' + j.added + ' face' + (j.added === 1 ? '' : 's') +
          ' added' + (j.training ? ', training started' : ''));
      });
    } else if (kind === 'merge') {
      var into = Number(li.querySelector('select.merge-into').value);
      if (!into) {
        feedback(fb, 'error', '✗ choose the group these faces belong with');
        return;
      }
      req = api('POST', '/unknowns/' + g.id + '/merge', { into: into }).then(function (j) {
        li.dataset.state = 'merged';
        feedback(fb, 'ok', '✓ merged into Unknown #' + j.group.id + ' (' + j.group.count + ' faces)');
        refresh('unknowns');
      });
    } else {
      req = api('POST', '/unknowns/' + g.id + '/dismiss').then(function () {
        li.dataset.state = 'dismissed';
        feedback(fb, 'ok', '✓ dismissed');
      });
    }
    li.dataset.keep = '1';
    li.querySelectorAll('button, input, select').forEach(function (b) { b.disabled = true; });
    feedback(fb, 'pending', { name: 'naming…', merge: 'merging…' }[kind] || 'dismissing…');
    req.catch(function (err) {
      li.dataset.keep = '';
      li.querySelectorAll('button, input, select').forEach(function (b) { b.disabled = false; });
      feedback(fb, 'error', '✗ ' + err.message);
    });
  }

  // Each group's "merge into" choice lists the other open groups.
  function fillMerge(gs) {
    $('unknown-list').querySelectorAll('li.group').forEach(function (li) {
      var sel = li.querySelector('select.merge-into');
      if (!sel || li.dataset.keep === '1') { return; }
      var others = gs.filter(function (g) { return String(g.id) !== li.dataset.id; });
      var want = others.map(function (g) { return g.id + ':' + g.count; }).join(' ');
      if (sel.dataset.opts === want) { return; }
      sel.dataset.opts = want;
      var keep = sel.value;
      sel.innerHTML = '';
      var none = el('option', '', others.length ? 'Merge into…' : 'no other group');
      none.value = '';
      sel.appendChild(none);
      others.forEach(function (g) {
        var o = el('option', '', 'Unknown #' + g.id + ' (' + g.count + ')');
        o.value = String(g.id);
        sel.appendChild(o);
      });
      sel.value = others.some(function (g) { return String(g.id) === keep; }) ? keep : '';
      sel.disabled = others.length === 0;
      li.querySelector('.merge-btn').disabled = others.length === 0;
    });
  }

  function loadUnknowns() {
    return api('GET', '/unknowns?limit=50&samples=6').then(function (j) {
      var gs = j.groups || [];
      sync($('unknown-list'), gs, function (g) { return g.id; }, function (g) {
        var li = el('li', 'card group');
        li.id = 'group-' + g.id;
        li.dataset.id = g.id;
        var info = el('div', 'info');
        info.appendChild(el('div', 'title'));
        info.appendChild(el('div', 'small seen'));
        li.appendChild(info);
        li.appendChild(el('div', 'thumbs'));
        var form = el('form', 'actions');
        form.autocomplete = 'off';
        var input = el('input', 'name');
        input.placeholder = 'Name'; input.maxLength = 64; input.setAttribute('aria-label', 'name for group ' + g.id);
        var name = el('button', 'name-btn', 'Name'); name.type = 'submit';
        var dis = el('button', 'danger dismiss-btn', 'Dismiss'); dis.type = 'button';
        // One visitor split across two groups: merge this one into another.
        var into = el('select', 'merge-into'); into.setAttribute('aria-label', 'merge group ' + g.id + ' into');
        var mrg = el('button', 'merge-btn', 'Merge'); mrg.type = 'button';
        form.appendChild(input); form.appendChild(name); form.appendChild(dis);
        form.appendChild(into); form.appendChild(mrg);
        form.addEventListener('submit', function (e) { e.preventDefault(); groupAction(g, li, 'name'); });
        dis.addEventListener('click', function () { groupAction(g, li, 'dismiss'); });
        mrg.addEventListener('click', function () { groupAction(g, li, 'merge'); });
        li.appendChild(form);
        var fb = el('div', 'fb'); fb.setAttribute('role', 'status');
        li.appendChild(fb);
        return li;
      }, function (li, g) {
        li.dataset.count = g.count;
        li.querySelector('.title').textContent = 'Unknown #' + g.id + ' · ' + g.count + (g.count === 1 ? ' face' : ' faces');
        li.querySelector('.seen').textContent = 'first ' + when(g.first) + ' · last ' + when(g.last) +
          (g.cameras && g.cameras.length ? ' · ' + g.cameras.join(', ') : '');
        var urls = (g.sample_urls && g.sample_urls.length ? g.sample_urls : [g.crop_url]).map(rapiURL).filter(Boolean);
        var box = li.querySelector('.thumbs');
        if (box.dataset.urls !== urls.join(' ')) {
          box.dataset.urls = urls.join(' ');
          box.innerHTML = '';
          urls.forEach(function (u) { var t = el('div', 'thumb'); thumb(t, u, 'unknown face', '?'); box.appendChild(t); });
        }
      }, 'no unknown faces waiting');
      fillMerge(gs);
      setStatus('unknowns', 'ok', gs.length + ' open group' + (gs.length === 1 ? '' : 's'));
    });
  }

  // View switching -------------------------------------------------------
  var loaders = { people: loadPeople, events: loadEvents, unknowns: loadUnknowns };

  function refresh(which) {
    if (!historyOn || !loaders[which] || loading[which]) return;
    loading[which] = true;
    loaders[which]().catch(function (err) {
      setStatus(which, 'error', '✗ ' + err.message);
    }).then(function () { loading[which] = false; });
  }

  function show(v) {
    if (views.indexOf(v) < 0 || (v !== 'live' && !historyOn)) v = 'live';
    view = v;
    views.forEach(function (x) { $('view-' + x).hidden = x !== v; });
    document.querySelectorAll('#tabs .tab').forEach(function (a) {
      if (a.dataset.view === v) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
    refresh(v);
  }

  function setHistory(on) {
    historyOn = !!on;
    document.querySelectorAll('#tabs [data-history]').forEach(function (a) { a.hidden = !historyOn; });
    show((location.hash || '#live').slice(1));
  }

  window.addEventListener('hashchange', function () { show((location.hash || '#live').slice(1)); });
  document.querySelectorAll('.refresh').forEach(function (b) {
    b.addEventListener('click', function () { refresh(b.dataset.refresh); });
  });
  // Keep the open history view current.
  setInterval(function () {
    if (view !== 'live' && document.visibilityState !== 'hidden') refresh(view);
  }, 5000);

  // checkSession resolves true while the page may go on (logged in, or no
  // login on this edge); otherwise it goes to the login page.
  function checkSession() {
    return fetch('/api/session', { cache: 'no-store' }).then(function (r) { return r.json(); })
      .then(function (s) {
        loginOn = !!s.login;
        csrf = s.csrf || '';
        $('logout').hidden = !loginOn;
        if (loginOn && !s.logged_in) { toLogin(); return false; }
        return true;
      })
      .catch(function () { return true; }); // edge unreachable: keep retrying
  }

  $('logout').addEventListener('click', function () {
    post('/api/logout').then(toLogin, toLogin);
  });

  checkSession().then(function (ok) {
    if (!ok) return;
    fetch('/api/config').then(function (r) { return r.json(); })
      .then(function (c) { setHistory(c.history); })
      .catch(function () { setHistory(false); });
    connect();
  });
})();
