// facemon dashboard: live view over a WebSocket (binary messages are the
// JPEG frames as received, text messages are JSON events), who is in view,
// camera switching and enrolment. Plain JS, no dependencies.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  var cam = params.get('cam') || '';
  var local = '';
  var ws = null, retry = null;
  var frames = 0, fpsCount = 0, lastURL = null, decoding = false, pendingBuf = null;
  var people = [];

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
    saved: '✓ saved', queued: '… queued', no_face: '✗ no face found',
    several_faces: '✗ several faces in view', error: '✗ error'
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
        trainAllowed = !!d.train;
        updateTrainButton();
        if (d.train_status) showTrain(d.train_status);
        break;
      case 'mode': setMode(d); break;
      case 'identities': people = d || []; renderPeople(); break;
      case 'cameras': setCameras(d || []); break;
      case 'recognizer': setRecognizer(d && d.online); break;
      case 'enrol': if (d && d.resent) logEnrol(d); break;
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
    fetch('/api/train', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
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
      retry = setTimeout(connect, 1000);
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
  $('enrol-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var name = $('name').value.trim();
    var burst = parseInt($('burst').value, 10) || 1;
    var st = $('enrol-status'), btn = $('capture');
    btn.disabled = true;
    st.dataset.status = 'pending';
    st.textContent = burst > 1 ? 'capturing ' + burst + ' frames…' : 'capturing…';
    fetch('/api/enrol', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: name, burst: burst })
    }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (!res.ok || !res.j.results) {
          st.dataset.status = 'error';
          st.textContent = '✗ ' + (res.j.error || 'failed');
          return;
        }
        var rs = res.j.results, counts = {};
        rs.forEach(function (r) { counts[r.status] = (counts[r.status] || 0) + 1; logEnrol(r); });
        var order = ['saved', 'queued', 'several_faces', 'no_face', 'error'];
        var main = order.filter(function (s) { return counts[s]; })[0] || 'error';
        st.dataset.status = main;
        st.textContent = rs.length === 1 ? (statusText[rs[0].status] || rs[0].status) + ' — ' + rs[0].message
          : order.filter(function (s) { return counts[s]; }).map(function (s) { return counts[s] + ' ' + statusText[s]; }).join(', ');
      })
      .catch(function (err) { st.dataset.status = 'error'; st.textContent = '✗ ' + err; })
      .then(function () { btn.disabled = false; });
  });

  connect();
})();
